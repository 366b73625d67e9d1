"""Redaction: a copy of a record that is safe to write into run.json, logs and reports.

API keys only ever come from the environment or a file the user names; this is the second
line of defence, applied to everything socialbias writes about a run: entries whose *name*
looks like a secret are dropped, and strings that *look* like credentials are replaced.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_SECRET_PARTS = ("key", "token", "secret", "passw", "pwd", "credential", "auth", "cookie", "bearer",
                 "private", "signature")
#: Names that contain a secret-like word but hold a setting or a reference, not a secret.
_NOT_SECRET = frozenset({"model_key", "key", "judge_key", "agreement_key", "max_tokens", "max_new_tokens", "max_batch_tokens",
                         "max_total_tokens", "max_prompt_tokens", "prompt_tokens", "completion_tokens",
                         "total_tokens", "n_tokens"})
_SECRET_VALUE = [
    re.compile(r"\bsk-[A-Za-z0-9_\-]{12,}"),
    re.compile(r"\bhf_[A-Za-z0-9]{16,}"),
    re.compile(r"\bgh[pousr]_[A-Za-z0-9]{16,}"),
    re.compile(r"\bxox[abpr]-[A-Za-z0-9\-]{10,}"),
    re.compile(r"\bAKIA[0-9A-Z]{16}\b"),
    re.compile(r"\bAIza[0-9A-Za-z_\-]{30,}"),
    re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/\-]{8,}=*"),
    re.compile(r"(?i)(?<=[?&])(?:api[_-]?key|key|token|access_token|secret|password|sig)=[^&\s\"']+"),
    re.compile(r"(?<=://)[^/@\s]+(?=@)"),  # user:password@ or TOKEN@ in a URL
]
_URL = re.compile(r"https?://[^\s\"'<>]+")
#: A URL path segment that looks like a key: a known key prefix, 20+ characters of mixed case
#: and digits without word separators, or 32+ hex digits.
_KEY_SEGMENT = re.compile(r"(?:sk|hf|gh[pousr]|xox[abpr]|AKIA|AIza)[-_][A-Za-z0-9_\-]{8,}|"
                          r"(?=[A-Za-z0-9_+=]*\d)(?=[A-Za-z0-9_+=]*[a-z])(?=[A-Za-z0-9_+=]*[A-Z])[A-Za-z0-9_+=]{20,}|"
                          r"[0-9a-fA-F]{32,}")
REDACTED = "[redacted]"


def _scrub_path(path: str) -> str:
    return "/".join(REDACTED if _KEY_SEGMENT.fullmatch(seg) else seg for seg in path.split("/"))


def scrub_url(url: str) -> str:
    """``url`` without credentials, safe to store, print or hash into a model key: no
    ``user:password@`` or ``TOKEN@``, no query or fragment (``?api_key=...``), and every path
    segment that looks like a key replaced by ``[redacted]``."""
    from urllib.parse import urlsplit, urlunsplit

    try:
        parts = urlsplit(str(url))
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return REDACTED
    if ":" in host:
        host = f"[{host}]"
    netloc = host + (f":{port}" if port else "")
    return urlunsplit((parts.scheme, netloc, _scrub_path(parts.path), "", ""))


def _secret_name(name: str) -> bool:
    low = str(name).lower()
    if low in _NOT_SECRET or low.endswith(("_env", "_env_var", "_file", "_path")):
        return False
    return any(part in low for part in _SECRET_PARTS)


def redact(record: Any) -> Any:
    """A copy of ``record`` safe to print: entries whose name looks like a secret are dropped.

    (``key`` alone is a backend's model key, not a secret.)

    Dropped, recursively: every key containing key, token, secret, passw(ord), pwd,
    credential, auth, cookie, bearer, private or signature (case-insensitive), except the
    settings ``model_key``, ``max_tokens``-like counts and names of where a secret lives
    (``*_env``, ``*_file``, ``*_path``). Strings that look like credentials anywhere (``sk-...``,
    ``hf_...``, ``ghp_...``, AWS/Google keys, ``Bearer ...``, ``?api_key=...``, ``user:pass@``
    in URLs) are replaced by ``[redacted]``.
    """
    if isinstance(record, Mapping):
        return {str(k): redact(v) for k, v in record.items() if not _secret_name(str(k))}
    if isinstance(record, (list, tuple)):
        return [redact(v) for v in record]
    if isinstance(record, str):
        out = _URL.sub(lambda m: _scrub_url_path(m.group(0)), record)
        for pat in _SECRET_VALUE:
            out = pat.sub(REDACTED, out)
        return out
    return record


def _scrub_url_path(url: str) -> str:
    """Key-shaped path segments of one URL inside a longer text (the query is handled by the
    value patterns)."""
    head, sep, rest = url.partition("://")
    cut = min([i for i in (rest.find("?"), rest.find("#")) if i >= 0], default=len(rest))
    return head + sep + _scrub_path(rest[:cut]) + rest[cut:]


__all__ = ["REDACTED", "redact", "scrub_url"]
