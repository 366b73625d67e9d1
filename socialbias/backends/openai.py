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

Modules: this one (the backend: what is asked and how answers become records),
:mod:`.openai_transport` (HTTP, threads, retries, faults, the key) and :mod:`.openai_scoring`
(reading a completion body: text and option-label probabilities).
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import queue
import random
import threading
from collections import Counter
from typing import Any, Iterable, Iterator, Mapping, Sequence
from urllib.parse import urlsplit

from .. import __version__
from ..answers import NONE, get_parser
from ..errors import BackendError, InputError
from ..store import Answer
from .base import Decoding, Mode, Prompt, check_mode, model_key, prompt_options
from .openai_scoring import (_NAN, _first_choice, _message_text, _top_entries, impossible_logprobs, label_probabilities,
                             letter_probabilities)
from .openai_transport import (Transport, _Control, _first_error, _httpx, _loopback, _Prompts, _public_url, _Retry,
                               _Secret, _Skip, parse_retry_after)

__all__ = ["DEFAULT_BASE_URL", "OpenAIBackend", "letter_probabilities", "parse_retry_after"]

log = logging.getLogger(__name__)

#: Where requests go unless ``base_url`` says otherwise (it includes the ``/v1``).
DEFAULT_BASE_URL = "https://api.openai.com/v1"
_SKIP_GUARD = 50  # this many skips in a row at the start of a call stop the run


class _NoLogprobs:
    """Marker: the server answered without log-probabilities."""


_NO_LOGPROBS = _NoLogprobs()


# --------------------------------------------------------------------------------------------
# the backend
# --------------------------------------------------------------------------------------------


class OpenAIBackend(Transport):
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
        labels: option labels for an instrument with N options (``("1", ..., "5")``; part of
            :attr:`key`); None: BBQ's letters. Given, answers are
            :class:`~socialbias.store_options.OptionAnswer` records: in logprob mode
            one probability per label (:func:`~.openai_scoring.label_probabilities`), in generate
            mode the text with choice -1 (the instrument's strict parser reads it, knowing the
            presented option order).
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
        labels: Sequence[str] | None = None,
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
        if labels is not None and (len(labels) < 2 or len(set(labels)) != len(labels)
                                   or not all(isinstance(x, str) and x.strip() == x and x for x in labels)):
            raise InputError(f"labels={labels!r}: expected at least two distinct, non-blank option labels")
        self.labels: tuple[str, ...] | None = tuple(labels) if labels is not None else None
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
            extra_body=self.extra_body or None, labels=list(self.labels) if self.labels else None,
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
            "labels": list(self.labels) if self.labels else None,
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
                    if self.labels:
                        return _option_answer(pid, self.key, choice, probs, text, parse, latency)
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
        with self._lock:
            self._call_answers += 1
        if self.labels:  # the instrument reads the text (it knows the presented options)
            return _option_answer(pid, self.key, NONE, (), text, "text", latency)
        choice, how = self._parse(text, prompt_options(prompt))
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
            return NONE, (_NAN,) * len(self.labels or "ABC"), _message_text(choice), "logprob:invalid"
        picked, probs = label_probabilities(top, self.labels) if self.labels else letter_probabilities(top)
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



def _option_answer(pid: str, key: str, choice: int, probs: Sequence[float], text: str, parse: str,
                   latency: float) -> Any:
    """An N-option answer (no probabilities unless an option was read)."""
    from ..store_options import OptionAnswer

    return OptionAnswer(pid, key, choice, tuple(probs) if choice != NONE else (), text, parse, latency)


def from_config(config: Any, prompts: Any = None, items: Any = None, personas: Any = None) -> OpenAIBackend:
    """The registry's factory (:mod:`socialbias.backends.registry`): an :class:`OpenAIBackend` for a run configuration."""
    from .base import decoding_from_config

    return OpenAIBackend(
        config.model, base_url=config.base_url, mode=config.mode, decoding=decoding_from_config(config),
        parser=config.parser, api_key_env=config.api_key_env, api_key_file=config.api_key_file,
        concurrency=config.concurrency, timeout=getattr(config, "request_timeout", 60.0),
        max_retries=getattr(config, "max_retries", 8),
    )
