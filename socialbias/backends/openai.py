"""Any OpenAI-compatible chat-completions server (OpenAI, ``vllm serve``, ...) as a backend.

::

    backend = OpenAIBackend("gpt-4o-mini")                        # key from $OPENAI_API_KEY
    backend = OpenAIBackend("Qwen/Qwen2.5-7B-Instruct", "http://localhost:8000/v1")
    with store.writer(batch_size=64) as w:
        for answer in backend.answer(prompts, mode="logprob"):    # in completion order
            w.add(answer)

Modes (fixed when the backend is made; they are part of its :attr:`~OpenAIBackend.key`):

``logprob``
    One generated token (``max_tokens=1, temperature=0, logprobs=true, top_logprobs=K``). The
    probabilities of that token's top-K alternatives whose text, stripped of blanks, is exactly
    ``A``, ``B`` or ``C`` (``"A"``, ``" A"``, ...) are summed per letter and renormalised over the
    three letters: ``p0 + p1 + p2 = 1``, choice = argmax, parse ``"logprob"``. No letter in the
    top K: choice -1, NaN probabilities, parse ``"logprob:none"``. A server that returns no
    log-probabilities (field missing or null) is detected on the first answer (sent alone); the
    backend then answers in ``generate`` mode for the rest of its life (one warning;
    :attr:`logprob_supported` is False, :attr:`mode` is ``"generate"``, parse ``"strict:..."``).
    The answers keep the backend's :attr:`key` (it names the requested mode and the generate
    settings, so a resumed run finds them): the same configuration against the same server
    always gives the same kind of answer.
``generate``
    Text with the :class:`~socialbias.backends.base.Decoding` settings (temperature, top_p,
    max_tokens, ``seed + sample``, extras), read by the strict or paper parser
    (:mod:`socialbias.answers`); parse e.g. ``"strict:letter"``.

Transport: ``httpx.AsyncClient`` on an asyncio loop in a background thread, ``concurrency``
requests in flight; :meth:`OpenAIBackend.answer` is a plain generator fed through a queue. At
most ``4 * concurrency`` prompts are requested ahead of the consumer, so a consumer that stops
(``break``, an exception, Ctrl-C) has paid for little it did not get; stopping cancels the
requests in flight and closes the client.

Faults. Retried with exponential backoff and full jitter (``uniform(0, min(max_delay,
base_delay * 2**attempt))``), at most ``max_retries`` times per prompt: HTTP 408, 409, 429 and
5xx (``Retry-After``/``retry-after-ms`` honoured, seconds or HTTP date, capped at ``max_delay``),
timeouts, failed or dropped connections, malformed or truncated JSON and bodies without
choices. Each is counted in :attr:`~OpenAIBackend.fault_counts` (``http_429``, ``http_503``,
``timeout``, ``connection``, ``dropped``, ``malformed_json``, ``truncated_json``,
``bad_response``, ...). A prompt the server will not take because of the prompt itself (HTTP
400 saying it exceeds the model's context, ``context_length``, or that a content filter flagged
it, ``content_filter``) is skipped, not answered (counted, and listed in
:attr:`~OpenAIBackend.skipped`): it stays missing in the store rather than becoming a made-up
"none" (if the first 50 prompts of a call are all skipped, the run stops: that is a setting,
such as max_tokens, not the prompts). Anything else (400, 401, 403, 404, ...) is
permanent: the run stops at once with one :class:`~socialbias.errors.BackendError` naming the
status, the server's message and the fix; so does a prompt that exhausts its retries. Answers
yielded before stay yielded.

The API key is read only from the environment (``api_key_env``, default ``OPENAI_API_KEY``) or
a file (``api_key_file``), sent as ``Authorization: Bearer``, and never shown: not in the key,
:meth:`~OpenAIBackend.describe`, ``repr``, logs or error messages (server messages that echo it
are redacted). No key: no header (local servers need none; a server that does answers 401).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import math
import os
import queue
import random
import re
import threading
import time
from collections import Counter
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping
from urllib.parse import urlsplit, urlunsplit

from .. import __version__
from ..answers import LETTERS, NONE, get_parser
from ..errors import BackendError, InputError
from ..store import Answer
from .base import Decoding, Mode, Prompt, check_mode, model_key, prompt_options

__all__ = ["DEFAULT_BASE_URL", "OpenAIBackend", "letter_probabilities", "parse_retry_after"]

log = logging.getLogger(__name__)

#: Where requests go unless ``base_url`` says otherwise (it includes the ``/v1``).
DEFAULT_BASE_URL = "https://api.openai.com/v1"

_NAN = math.nan
_LETTER_INDEX = {letter: i for i, letter in enumerate(LETTERS)}
# A 400 that means "this prompt does not fit the model", not "your request is wrong".
_CONTEXT_RE = re.compile(
    r"context[ _-]?length|maximum context|context window|too many tokens|prompt is too long|"
    r"input is too long|maximum input length|reduce the length",
    re.IGNORECASE,
)
# A 400 that means "a content filter refused this prompt" (OpenAI invalid_prompt, Azure content_filter).
_FILTER_RE = re.compile(r"content[ _-]?filter|content[ _-]?management|flagged|usage polic|content polic|safety system",
                        re.IGNORECASE)
_FILTER_CODES = frozenset({"content_filter", "invalid_prompt", "content_policy_violation"})
_SKIP_GUARD = 50  # this many skips in a row at the start of a call stop the run
_RETRY_STATUSES = frozenset({408, 409, 429})
_MESSAGE_CHARS = 200
_PENDING_PER_WORKER = 4
_CLOSE_WAIT_S = 10.0
_DONE = object()
_thread_ids = itertools.count(1)


# --------------------------------------------------------------------------------------------
# pure helpers (tested on their own)
# --------------------------------------------------------------------------------------------


def letter_probabilities(top: Iterable[tuple[Any, Any]]) -> tuple[int, tuple[float, float, float]]:
    """Choice and option probabilities from ``(token, logprob)`` pairs of one position.

    Tokens whose text, stripped of blanks (and a leading ``Ġ``/``▁`` marker), is exactly ``A``,
    ``B`` or ``C`` add their probability to that letter; the three sums are renormalised to sum
    to 1 and the choice is the argmax. No letter at all: ``(-1, (nan, nan, nan))``.
    """
    mass = [0.0, 0.0, 0.0]
    for token, logprob in top:
        if not isinstance(token, str) or isinstance(logprob, bool) or not isinstance(logprob, (int, float)):
            continue
        if logprob != logprob:  # NaN
            continue
        i = _LETTER_INDEX.get(token.strip().lstrip("Ġ▁").strip())
        if i is not None:
            mass[i] += math.exp(min(float(logprob), 0.0))
    total = mass[0] + mass[1] + mass[2]
    if not total > 0.0 or not math.isfinite(total):
        return NONE, (_NAN, _NAN, _NAN)
    probs = (mass[0] / total, mass[1] / total, mass[2] / total)
    return max(range(3), key=probs.__getitem__), probs


def impossible_logprobs(top: Iterable[tuple[Any, Any]]) -> int:
    """How many numeric log-probabilities in ``top`` are impossible: positive (beyond float
    noise, 1e-6), NaN or infinite (-inf is possible: probability 0)."""
    bad = 0
    for _, logprob in top:
        if isinstance(logprob, bool) or not isinstance(logprob, (int, float)):
            continue
        if logprob != logprob or logprob == math.inf or logprob > 1e-6:
            bad += 1
    return bad


def parse_retry_after(headers: Mapping[str, str], now: datetime | None = None) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP date);
    None when absent or unreadable; never negative."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            value = float(ms) / 1000.0
            if math.isfinite(value):
                return max(value, 0.0)
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if not raw:
        return None
    raw = raw.strip()
    try:
        value = float(raw)
        return max(value, 0.0) if math.isfinite(value) else None
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max((when - (now or datetime.now(timezone.utc))).total_seconds(), 0.0)


# --------------------------------------------------------------------------------------------
# internals
# --------------------------------------------------------------------------------------------


class _Secret:
    """Holds the API key; shows nothing when printed, logged or inspected with vars()."""

    __slots__ = ("_value",)

    def __init__(self, value: str | None) -> None:
        self._value = value

    def get(self) -> str | None:
        return self._value

    def __repr__(self) -> str:
        return "<secret>" if self._value else "<none>"

    __str__ = __repr__

    def __reduce__(self) -> Any:  # never pickled along with the backend
        return (_Secret, (None,))


class _Retry(Exception):
    """A 2xx answer that cannot be used (no choices, no log-probabilities once they were seen)."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind, self.detail = kind, detail


class _Skip(Exception):
    """HTTP 400 about this prompt (too long, filtered): skip it, do not stop the run."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind, self.detail = kind, detail


class _NoLogprobs:
    """Marker: the server answered without log-probabilities."""


_NO_LOGPROBS = _NoLogprobs()


class _Control:
    """What the consumer thread and the event-loop thread share for one answer() call."""

    def __init__(self, window: int) -> None:
        self.lock = threading.Lock()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.task: asyncio.Task[None] | None = None
        self.cancelled = False
        self.credits = asyncio.Semaphore(window)  # prompts requested but not yet taken by the consumer

    def credit(self) -> None:
        """The consumer took one answer: one more prompt may be requested."""
        loop = self.loop
        if loop is not None:
            try:
                loop.call_soon_threadsafe(self.credits.release)
            except RuntimeError:  # loop already closed: nothing left to request
                pass

    def cancel(self) -> None:
        with self.lock:
            self.cancelled = True
            loop, task = self.loop, self.task
        if loop is not None and task is not None:
            try:
                loop.call_soon_threadsafe(task.cancel)
            except RuntimeError:
                pass


class _Prompts:
    """The caller's prompts, read lazily, each prompt id once."""

    def __init__(self, prompts: Iterable[Prompt]) -> None:
        self._it = iter(prompts)
        self._seen: set[str] = set()
        self.duplicates = 0

    def next(self) -> Prompt | None:
        for p in self._it:
            pid = getattr(p, "prompt_id", None)
            if not isinstance(pid, str) or not pid or getattr(p, "messages", None) is None:
                raise InputError(
                    f"answer() needs Prompt records (prompt_id, messages, sample), got {type(p).__name__}: "
                    "build them with socialbias.backends.prompts_from_table(prompts_table)"
                )
            if pid in self._seen:
                self.duplicates += 1
                continue
            self._seen.add(pid)
            return p
        return None


def _httpx() -> Any:
    try:
        import httpx
    except ImportError:
        raise BackendError("the openai backend needs httpx: pip install 'socialbias[openai]'") from None
    return httpx


def _public_url(url: str) -> str:
    """``url`` without credentials (:func:`socialbias.redact.scrub_url`): no user:password@ or
    TOKEN@, no query or fragment, key-shaped path segments replaced."""
    from ..redact import scrub_url

    return scrub_url(url)


def _endpoint(base_url: str, name: str) -> str:
    """``base_url`` + ``/name``, keeping a query (``?api-version=...``) after the path."""
    parts = urlsplit(base_url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/") + "/" + name, parts.query, ""))


def _one_line(text: str, limit: int = _MESSAGE_CHARS) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _first_choice(data: Any) -> dict[str, Any]:
    if isinstance(data, dict):
        choices = data.get("choices")
        if isinstance(choices, list) and choices and isinstance(choices[0], dict):
            return choices[0]
        err = data.get("error")
        if err:
            msg = err.get("message") if isinstance(err, dict) else err
            raise _Retry("bad_response", f"error in a 2xx body: {_one_line(str(msg))}")
    raise _Retry("bad_response", "a 2xx body without choices")


def _message_text(choice: Mapping[str, Any]) -> str:
    msg = choice.get("message")
    content = msg.get("content") if isinstance(msg, dict) else choice.get("text")
    if isinstance(content, list):  # content parts
        content = "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return content if isinstance(content, str) else ""


def _top_entries(choice: Mapping[str, Any]) -> list[tuple[Any, Any]] | None:
    """``(token, logprob)`` pairs of the first generated token; [] when no token was generated;
    None when the server gave no (top) log-probabilities."""
    lp = choice.get("logprobs")
    if not isinstance(lp, dict):
        return None
    content = lp.get("content")
    if isinstance(content, list):
        if not content:
            return []
        first = content[0] if isinstance(content[0], dict) else {}
        tops = first.get("top_logprobs")
    else:  # the completions layout: top_logprobs = [{token: logprob}, ...] per position
        tops = lp.get("top_logprobs")
        tops = tops[0] if isinstance(tops, list) and tops else None
    if isinstance(tops, dict) and tops:
        return list(tops.items())
    if isinstance(tops, list) and tops:
        return [(t.get("token"), t.get("logprob")) for t in tops if isinstance(t, dict)]
    return None


def _body_message(body: bytes) -> tuple[str, str]:
    """(message, code) of an error body: OpenAI's ``{"error": {...}}``, vLLM's ``{"message"}``,
    FastAPI's ``{"detail"}``, or the text itself."""
    try:
        data = json.loads(body)
    except ValueError:
        return body.decode("utf-8", "replace"), ""
    if isinstance(data, dict):
        err = data.get("error", data)
        if isinstance(err, dict):
            msg = err.get("message") or err.get("detail") or err.get("msg") or ""
            code = err.get("code") or err.get("type") or ""
            return (msg if isinstance(msg, str) else json.dumps(msg)), str(code)
        if isinstance(err, str):
            return err, ""
    return json.dumps(data), ""


def _is_truncated(body: bytes) -> bool:
    """A JSON object body that stops early (empty, or not ending with '}')."""
    return not body.rstrip().endswith(b"}")


def _loopback(host: str | None) -> bool:
    return (host or "") in ("localhost", "127.0.0.1", "::1") or (host or "").startswith("127.")


def _first_error(group: BaseExceptionGroup) -> BaseException:
    """The most telling exception of a task group's failure (a BackendError if any)."""
    flat: list[BaseException] = []

    def walk(e: BaseException) -> None:
        if isinstance(e, BaseExceptionGroup):
            for sub in e.exceptions:
                walk(sub)
        else:
            flat.append(e)

    walk(group)
    for e in flat:
        if isinstance(e, BackendError):
            return e
    return next((e for e in flat if not isinstance(e, asyncio.CancelledError)), flat[0])


# --------------------------------------------------------------------------------------------
# the backend
# --------------------------------------------------------------------------------------------


class OpenAIBackend:
    """An OpenAI-compatible chat-completions server as a :class:`~socialbias.backends.base.Backend`
    (see the module docstring).

    Args:
        model: the server's model id (``--model``).
        base_url: the API root including ``/v1`` (default OpenAI's).
        mode: ``"logprob"`` (default) or ``"generate"``; part of :attr:`key`.
        decoding: generate-mode settings (temperature, top_p, max_tokens, seed, extra).
        parser: generate-mode text parser, ``"strict"`` (default) or ``"paper"``.
        top_logprobs: K alternatives asked for in logprob mode (OpenAI allows at most 20).
        concurrency: requests in flight at once.
        timeout: seconds without progress (connecting, or between two reads of the answer).
        deadline: seconds per request attempt in total, connecting and the whole answer
            (default 3 x timeout): a server that drips its answer cannot hold a request longer.
        max_retries: retries per prompt after its first attempt.
        base_delay, max_delay: backoff bounds in seconds (``max_delay`` also caps Retry-After).
        api_key_env: environment variable holding the key (None: do not read the environment).
        api_key_file: a file whose first line is the key (takes precedence over the environment).
        extra_body: more JSON fields sent with every request (part of :attr:`key`).
    """

    def __init__(
        self,
        model: str,
        base_url: str = DEFAULT_BASE_URL,
        *,
        mode: Mode = "logprob",
        decoding: Decoding | None = None,
        parser: str = "strict",
        top_logprobs: int = 20,
        concurrency: int = 16,
        timeout: float = 60.0,
        deadline: float | None = None,
        max_retries: int = 8,
        base_delay: float = 0.5,
        max_delay: float = 60.0,
        api_key_env: str | None = "OPENAI_API_KEY",
        api_key_file: str | os.PathLike[str] | None = None,
        extra_body: Mapping[str, Any] | None = None,
    ) -> None:
        if not isinstance(model, str) or not model.strip():
            raise InputError(f"model={model!r}: give the server's model id (e.g. --model gpt-4o-mini)")
        parts = urlsplit(str(base_url))
        try:
            _ = parts.port  # urlsplit checks the port only when it is read
        except ValueError:
            parts = urlsplit("")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InputError(f"base_url {str(base_url).split('@')[-1]!r} is not a URL: expected http(s)://host[:port]/v1")
        check_mode(mode)
        for name, value, low in (("concurrency", concurrency, 1), ("top_logprobs", top_logprobs, 1), ("max_retries", max_retries, 0)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise InputError(f"{name}={value!r}: expected an integer >= {low}")
        for name, value in (("timeout", timeout), ("base_delay", base_delay), ("max_delay", max_delay)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0 or not math.isfinite(value):
                raise InputError(f"{name}={value!r}: expected a non-negative number of seconds")
        if not timeout > 0:
            raise InputError("timeout=0: expected a positive number of seconds")
        self.model = model.strip()
        self.base_url = str(base_url).rstrip("/")
        self.mode: Mode = mode
        self.requested_mode: Mode = mode
        self.decoding = decoding if decoding is not None else Decoding()
        self.parser = parser
        self._parse = get_parser(parser)
        self.top_logprobs = top_logprobs
        self.concurrency = concurrency
        self.timeout = float(timeout)
        #: Total seconds per attempt (connecting, sending, every byte of the answer).
        self.deadline = float(deadline) if deadline is not None else 3.0 * self.timeout
        self.max_retries = max_retries
        self.base_delay = float(base_delay)
        self.max_delay = float(max_delay)
        self.api_key_env = api_key_env
        self.api_key_file = str(api_key_file) if api_key_file is not None else None
        self.extra_body = dict(extra_body or {})
        self._secret = _Secret(self._read_key())
        #: The model key of every answer (see :meth:`_model_key`); never the API key.
        self.key = self._model_key()
        #: True/False once the server has shown whether it returns log-probabilities (logprob mode).
        self.logprob_supported: bool | None = None
        #: Faults met, by kind (http_429, http_500, timeout, connection, dropped, malformed_json, ...).
        self.fault_counts: Counter[str] = Counter()
        self.requests = 0
        self.retries = 0
        #: Prompts the server would not take, prompt id -> why (context_length, content_filter).
        self.skipped: dict[str, str] = {}
        self._call_answers = 0
        self._call_skips = 0
        self._lock = threading.Lock()
        self._rng = random.Random()
        self._notices: set[str] = set()
        if self._secret.get() and parts.scheme == "http" and not _loopback(parts.hostname):
            log.warning("the API key is sent unencrypted over http to %s: use https", parts.hostname)

    # -- identity ---------------------------------------------------------------------------------

    def _model_key(self) -> str:
        # The requested mode, and the generate settings also in logprob mode: a server without
        # log-probabilities answers through them (the fallback), so they can change the answers.
        return model_key(
            "openai", self.model, base_url=_public_url(self.base_url), mode=self.requested_mode,
            decoding=self.decoding.as_dict(), parser=self.parser,
            top_logprobs=self.top_logprobs if self.requested_mode == "logprob" else None,
            extra_body=self.extra_body or None,
        )

    def describe(self) -> dict[str, Any]:
        """Configuration and fault counts for the run record (never the API key)."""
        with self._lock:
            faults = dict(sorted(self.fault_counts.items()))
            requests, retries, skipped = self.requests, self.retries, len(self.skipped)
        try:
            import httpx

            httpx_version = httpx.__version__
        except ImportError:  # pragma: no cover
            httpx_version = None
        return {
            "backend": "openai",
            "base_url": _public_url(self.base_url),
            "model": self.model,
            "model_key": self.key,
            "mode": self.mode,
            "requested_mode": self.requested_mode,
            "logprob_supported": self.logprob_supported,
            "top_logprobs": self.top_logprobs,
            "decoding": self.decoding.as_dict(),
            "parser": self.parser,
            "extra_body": dict(self.extra_body),
            "concurrency": self.concurrency,
            "timeout": self.timeout,
            "deadline": self.deadline,
            "max_retries": self.max_retries,
            "base_delay": self.base_delay,
            "max_delay": self.max_delay,
            "api_key_env": self.api_key_env,
            "api_key_file": self.api_key_file,
            "api_key_set": bool(self._secret.get()),
            "requests": requests,
            "retries": retries,
            "fault_counts": faults,
            "skipped": skipped,
            "httpx": httpx_version,
        }

    def __repr__(self) -> str:
        return (f"OpenAIBackend(model={self.model!r}, base_url={_public_url(self.base_url)!r}, "
                f"mode={self.mode!r}, concurrency={self.concurrency})")

    # -- the Backend protocol ---------------------------------------------------------------------

    def answer(self, prompts: Iterable[Prompt], mode: Mode | None = None) -> Iterator[Answer]:
        """Answer ``prompts``, yielding :class:`Answer` records as they complete (not in input
        order). ``mode`` must be the backend's own (None = it). Raises :class:`BackendError` on a
        permanent server error or a prompt that exhausts its retries; answers yielded before
        that stay valid. Closing the generator early cancels what is in flight."""
        if mode is not None and mode != self.requested_mode:
            check_mode(mode)
            raise InputError(
                f"this OpenAIBackend was made for mode={self.requested_mode!r} (its model key says so): "
                f"make one with mode={mode!r}"
            )
        _httpx()
        return self._stream(prompts)

    def _stream(self, prompts: Iterable[Prompt]) -> Iterator[Answer]:
        out: queue.SimpleQueue[Any] = queue.SimpleQueue()  # C-level get(): Ctrl-C interrupts it cleanly
        ctl = _Control(_PENDING_PER_WORKER * self.concurrency)
        thread = threading.Thread(
            target=self._thread_main, args=(prompts, out, ctl), name=f"socialbias-openai-{next(_thread_ids)}", daemon=True
        )
        thread.start()
        try:
            while True:
                try:
                    item = out.get(timeout=0.25)
                except queue.Empty:
                    if thread.is_alive() or not out.empty():
                        continue
                    raise BackendError("the openai backend's worker thread ended without a result (internal error)") from None
                if item is _DONE:
                    return
                if isinstance(item, BaseException):
                    raise item
                ctl.credit()
                yield item
        finally:
            ctl.cancel()
            thread.join(_CLOSE_WAIT_S)
            if thread.is_alive():  # pragma: no cover - cancellation is prompt in practice
                log.warning("the openai backend's requests did not stop within %g s; leaving them", _CLOSE_WAIT_S)

    # -- event-loop thread ------------------------------------------------------------------------

    def _thread_main(self, prompts: Iterable[Prompt], out: queue.SimpleQueue[Any], ctl: _Control) -> None:
        loop = asyncio.new_event_loop()
        try:
            task = loop.create_task(self._run(prompts, out, ctl))
            with ctl.lock:
                ctl.loop, ctl.task = loop, task
                if ctl.cancelled:
                    task.cancel()
            try:
                loop.run_until_complete(task)
            except asyncio.CancelledError:
                pass  # the consumer left
            except BaseException as e:  # handed to the consumer, raised there
                out.put(e)
                return
            out.put(_DONE)
        finally:
            try:
                loop.run_until_complete(loop.shutdown_asyncgens())
            finally:
                with ctl.lock:
                    ctl.loop = None
                loop.close()

    async def _run(self, prompts: Iterable[Prompt], out: queue.SimpleQueue[Any], ctl: _Control) -> None:
        httpx = _httpx()
        headers = {"User-Agent": f"socialbias/{__version__}"}
        secret = self._secret.get()
        if secret:
            headers["Authorization"] = f"Bearer {secret}"
        limits = httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency)
        source = _Prompts(prompts)
        with self._lock:
            self._call_answers = self._call_skips = 0
        async with httpx.AsyncClient(headers=headers, timeout=httpx.Timeout(self.timeout), limits=limits) as client:
            if self.mode == "logprob" and self.logprob_supported is None:
                # one prompt alone first: learns whether log-probabilities come back, and a bad key
                # or model costs one request, not `concurrency`.
                await self._worker(client, source, out, ctl, probe=True)
            try:
                async with asyncio.TaskGroup() as group:
                    for _ in range(self.concurrency):
                        group.create_task(self._worker(client, source, out, ctl))
            except BaseExceptionGroup as eg:
                raise _first_error(eg) from None
        if source.duplicates:
            log.info("%d repeated prompt id(s) were asked once only", source.duplicates)
        bad = self.fault_counts.get("impossible_logprobs", 0)
        if bad:
            log.warning("%d answer(s) from %s came with impossible log-probabilities (positive, NaN or infinite): "
                        "they are stored as invalid answers (choice -1, parse 'logprob:invalid')", bad,
                        _public_url(self.base_url))

    async def _worker(self, client: Any, source: _Prompts, out: queue.SimpleQueue[Any], ctl: _Control, probe: bool = False) -> None:
        while True:
            await ctl.credits.acquire()
            prompt = source.next()
            if prompt is None:
                ctl.credits.release()
                return
            answer = await self._answer_one(client, prompt)
            if answer is None:
                ctl.credits.release()
            else:
                out.put(answer)
            if probe and (self.logprob_supported is not None or self.mode != "logprob"):
                return

    async def _answer_one(self, client: Any, prompt: Prompt) -> Answer | None:
        messages = [dict(m) for m in prompt.messages]
        pid = prompt.prompt_id
        try:
            if self.mode == "logprob":
                result, latency = await self._request(client, self._logprob_payload(messages), pid, self._read_logprobs)
                if result is not _NO_LOGPROBS:
                    if self.logprob_supported is None:
                        self.logprob_supported = True
                    choice, probs, text, how = result
                    with self._lock:
                        self._call_answers += 1
                    parse = how or ("logprob" if choice != NONE else "logprob:none")
                    return Answer(pid, self.key, choice, *probs, text=text, parse=parse, latency=latency)
                self._fall_back()
            text, latency = await self._request(
                client, self._generate_payload(messages, int(getattr(prompt, "sample", 0) or 0)), pid, self._read_text
            )
        except _Skip as e:
            with self._lock:
                self.fault_counts[e.kind] += 1
                self.skipped[pid] = e.kind
                self._call_skips += 1
                stop = self._call_answers == 0 and self._call_skips >= _SKIP_GUARD
            if stop:
                raise BackendError(
                    f"{_public_url(self.base_url)} refused each of the first {self._call_skips} prompts for model "
                    f"{self.model!r} (last: {e.kind}: {e.detail}): that is a setting, not the prompts: check "
                    "max_tokens (--max-tokens) against the model's context length, and the server's filters"
                ) from None
            self._notice(e.kind, "prompt %s is skipped, the server refuses it (%s: %s); more such prompts are "
                         "counted in fault_counts[%r] and listed in .skipped", pid, e.kind, e.detail, e.kind)
            return None
        choice, how = self._parse(text, prompt_options(prompt))
        with self._lock:
            self._call_answers += 1
        return Answer(pid, self.key, choice, text=text, parse=how, latency=latency)

    # -- requests ---------------------------------------------------------------------------------

    def _logprob_payload(self, messages: list[dict[str, Any]]) -> dict[str, Any]:
        return {"model": self.model, "messages": messages, "max_tokens": 1, "temperature": 0,
                "logprobs": True, "top_logprobs": self.top_logprobs, **self.extra_body}

    def _generate_payload(self, messages: list[dict[str, Any]], sample: int) -> dict[str, Any]:
        d = self.decoding
        return {"model": self.model, "messages": messages, "temperature": d.temperature, "top_p": d.top_p,
                "max_tokens": d.max_tokens, "seed": d.seed + sample, **d.extra, **self.extra_body}

    def _read_logprobs(self, data: Any) -> Any:
        choice = _first_choice(data)
        top = _top_entries(choice)
        if top is None:
            if self.logprob_supported:  # seen before: a glitch of this answer, not of the server
                raise _Retry("no_logprobs", "an answer without log-probabilities")
            return _NO_LOGPROBS
        if impossible_logprobs(top):
            # A log-probability is never positive, NaN or infinite: the answer is invalid (choice
            # -1, no probabilities), counted, never read as an option.
            with self._lock:
                self.fault_counts["impossible_logprobs"] += 1
            return NONE, (_NAN, _NAN, _NAN), _message_text(choice), "logprob:invalid"
        picked, probs = letter_probabilities(top)
        return picked, probs, _message_text(choice), ""

    def _read_text(self, data: Any) -> str:
        return _message_text(_first_choice(data))

    def _fall_back(self) -> None:
        if self.mode == "logprob":  # once: requests still in flight come back here too
            self.logprob_supported = False
            self.mode = "generate"
            log.warning(
                "%s returns no log-probabilities for model %r: answering in generate mode from now on "
                "(decoding %s, parser %r; parse column 'strict:...'/'paper:...' instead of 'logprob')",
                _public_url(self.base_url), self.model, self.decoding.as_dict(), self.parser,
            )

    async def _request(self, client: Any, payload: dict[str, Any], prompt_id: str,
                       read: Callable[[Any], Any]) -> tuple[Any, float]:
        """POST one chat completion with retries; returns ``(read(json), latency)``."""
        httpx = _httpx()
        url = _endpoint(self.base_url, "chat/completions")
        last = ""
        for attempt in range(self.max_retries + 1):
            wait_hint: float | None = None
            with self._lock:
                self.requests += 1
            start = time.monotonic()
            try:
                # One deadline for the whole request (connect, send, every byte of the answer):
                # httpx's timeouts are per read, so a server dripping a byte a second never hits them.
                async with asyncio.timeout(self.deadline):  # (wait_for can swallow a cancellation)
                    resp = await client.post(url, json=payload)
            except httpx.TimeoutException:
                fault, detail = "timeout", f"no answer within {self.timeout:g} s"
            except TimeoutError:
                fault, detail = "timeout", f"no complete answer within the deadline of {self.deadline:g} s"
            except httpx.ConnectError as e:
                fault, detail = "connection", f"cannot connect ({type(e).__name__})"
            except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as e:
                fault, detail = "dropped", f"connection dropped mid-response ({type(e).__name__})"
            except httpx.RequestError as e:
                fault, detail = "connection", type(e).__name__
            else:
                latency = time.monotonic() - start
                status = resp.status_code
                body = resp.content
                if 200 <= status < 300:
                    try:
                        data = json.loads(body)
                    except ValueError:
                        truncated = _is_truncated(body)
                        fault = "truncated_json" if truncated else "malformed_json"
                        detail = f"{'truncated' if truncated else 'malformed'} JSON body ({len(body)} bytes)"
                    else:
                        try:
                            return read(data), latency
                        except _Retry as r:
                            fault, detail = r.kind, r.detail
                elif status in _RETRY_STATUSES or status >= 500:
                    fault, detail = f"http_{status}", self._scrub(_one_line(_body_message(body)[0]))
                    wait_hint = parse_retry_after(resp.headers)
                else:
                    message, code = _body_message(body)
                    if status in (400, 413, 422):
                        if _CONTEXT_RE.search(message) or "context_length" in code:
                            raise _Skip("context_length", self._scrub(_one_line(message)))
                        if code in _FILTER_CODES or _FILTER_RE.search(message):
                            raise _Skip("content_filter", self._scrub(_one_line(message)))
                    raise await self._permanent(client, status, message, code)
            with self._lock:
                self.fault_counts[fault] += 1
            last = f"{fault}: {detail}"
            if attempt == self.max_retries:
                break
            with self._lock:
                self.retries += 1
            await asyncio.sleep(self._delay(attempt, wait_hint))
        raise BackendError(
            f"{_public_url(self.base_url)} gave no usable answer for prompt {prompt_id} after "
            f"{self.max_retries + 1} attempts (last: {last}): the server is down or overloaded; the answers "
            f"so far are kept: resume the run later, or allow more retries (max_retries)"
        )

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        """Full-jitter exponential backoff; a server's Retry-After wins (capped at max_delay)."""
        if retry_after is not None:
            return min(self.max_delay, retry_after + self._rng.uniform(0.0, self.base_delay))
        return self._rng.uniform(0.0, min(self.max_delay, self.base_delay * 2.0 ** min(attempt, 32)))

    async def _permanent(self, client: Any, status: int, message: str, code: str) -> BackendError:
        """The one-line error for a response that retrying cannot fix."""
        msg = self._scrub(_one_line(message)) or "(no message)"
        if status == 401:
            fix = self._key_fix()
        elif status == 403:
            fix = (f"the API key ({self._key_source()}) is not allowed to use model {self.model!r} here: "
                   "check its project, organisation and permissions")
        elif status == 404:
            if "model" in (message + " " + code).lower():
                models = await self._list_models(client)
                shown = ", ".join(models[:20]) + (f" (and {len(models) - 20} more)" if len(models) > 20 else "")
                fix = (f"check --model: the server has models {shown}" if models
                       else f"check --model: the server does not know {self.model!r}")
            else:
                fix = (f"check --base-url: {_public_url(self.base_url)}/chat/completions does not exist "
                       "(OpenAI-compatible servers serve it under .../v1)")
        elif status in (400, 422):
            if self.mode == "logprob" and "logprob" in message.lower():
                fix = ("the server refuses the log-probability request: lower --top-logprobs "
                       f"(now {self.top_logprobs}) or use --mode generate")
            else:
                fix = "check the decoding settings (temperature, top_p, max_tokens, seed, extras) and that this server supports them"
        else:
            fix = "check --base-url, --model and the API key"
        return BackendError(f"{_public_url(self.base_url)} refused the request for model {self.model!r} with HTTP "
                            f"{status}: {msg} -- {fix}", status=status)

    async def _list_models(self, client: Any) -> list[str]:
        """The server's model ids (GET /models), or [] if it cannot say quickly."""
        try:
            resp = await client.get(_endpoint(self.base_url, "models"), timeout=min(self.timeout, 10.0))
            data = resp.json() if resp.status_code == 200 else {}
            ids = [m.get("id") for m in data.get("data", []) if isinstance(m, dict)]
            return sorted(self._scrub(str(i)) for i in ids if i)
        except Exception:  # best effort only: the error message is what matters
            return []

    # -- the key ----------------------------------------------------------------------------------

    def _read_key(self) -> str | None:
        if self.api_key_file is not None:
            path = Path(self.api_key_file).expanduser()
            try:
                text = path.read_text(encoding="utf-8").strip()
            except OSError as e:
                raise InputError(f"cannot read the API key file {path}: {e.strerror or type(e).__name__}") from None
            if not text:
                raise InputError(f"the API key file {path} is empty: put the key on its first line")
            return text.splitlines()[0].strip()
        if self.api_key_env:
            return os.environ.get(self.api_key_env, "").strip() or None
        return None

    def _key_source(self) -> str:
        if self.api_key_file is not None:
            return f"read from {self.api_key_file}"
        return f"${self.api_key_env}" if self.api_key_env else "none configured"

    def _key_fix(self) -> str:
        if not self._secret.get():
            where = f"set {self.api_key_env}" if self.api_key_env else "name an api_key_env or api_key_file"
            return f"no API key was sent: {where}"
        if self.api_key_file is not None:
            return f"check the API key in {self.api_key_file}"
        return f"check {self.api_key_env}: the server rejects the key it holds"

    def _scrub(self, text: str) -> str:
        secret = self._secret.get()
        return text.replace(secret, "[redacted]") if secret and secret in text else text

    def _notice(self, kind: str, fmt: str, *args: Any) -> None:
        with self._lock:
            if kind in self._notices:
                return
            self._notices.add(kind)
        log.warning(fmt, *args)


def from_config(config: Any, prompts: Any = None, items: Any = None, personas: Any = None) -> OpenAIBackend:
    """The registry's factory (:mod:`socialbias.backends.registry`): an :class:`OpenAIBackend` for a run configuration."""
    from .base import decoding_from_config

    return OpenAIBackend(
        config.model, base_url=config.base_url, mode=config.mode, decoding=decoding_from_config(config),
        parser=config.parser, api_key_env=config.api_key_env, api_key_file=config.api_key_file,
        concurrency=config.concurrency, timeout=getattr(config, "request_timeout", 60.0),
        max_retries=getattr(config, "max_retries", 8),
    )
