"""The HTTP side of the OpenAI-compatible backend: requests, retries, faults, the API key, threads.

Split out of :mod:`.openai` (docs/design.md, "engines"): :class:`Transport` is a mixin that
:class:`~socialbias.backends.openai.OpenAIBackend` inherits; it owns the background event-loop
thread (:meth:`Transport._stream`), one request with its retries and backoff
(:meth:`Transport._request`), the one-line errors of permanent failures and everything about the
API key. What a request asks for and how its answer is read stay in :mod:`.openai` and
:mod:`.openai_scoring`. The behaviour is described in :mod:`.openai`'s docstring (Transport,
Faults, the API key); log records keep the logger name ``socialbias.backends.openai``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import math
import os
import queue
import re
import threading
import time
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping
from urllib.parse import urlsplit, urlunsplit

from ..errors import BackendError, InputError
from ..store import Answer
from .base import Prompt

log = logging.getLogger("socialbias.backends.openai")

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
_RETRY_STATUSES = frozenset({408, 409, 429})
_MESSAGE_CHARS = 200
_PENDING_PER_WORKER = 4
_CLOSE_WAIT_S = 10.0
_DONE = object()
_thread_ids = itertools.count(1)


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


class Transport:
    """HTTP transport of :class:`~socialbias.backends.openai.OpenAIBackend` (a mixin: it uses the
    backend's settings, counters and lock, and calls its ``_run`` coroutine)."""

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

