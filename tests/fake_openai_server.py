"""A real OpenAI-compatible HTTP server on 127.0.0.1 for the backend tests (no network).

``FakeOpenAIServer`` serves ``POST /v1/chat/completions`` and ``GET /v1/models`` from a
``ThreadingHTTPServer`` in a background thread (port 0: the OS picks a free one). Its answers
are a pure function of the request (a hash of the messages, and of the seed in generate mode),
so tests know the right answer without a model: :func:`expected_logprob`, :func:`expected_text`.

Faults, per attempt of a request (attempts are counted per distinct request body):

* ``fail_first=("429", "500", "timeout", "malformed")``: the first attempts fail in this order,
  then the request is answered;
* ``fault_rate=0.2, seed=1``: each later attempt fails with that probability, with a kind drawn
  from ``faults``.

Kinds: ``429`` (with ``Retry-After: retry_after``), ``500``, ``502``, ``503``, ``504``, ``drop``
(close without answering), ``drop_mid`` (close half-way through the body), ``timeout`` (stall
``stall`` seconds, then close), ``malformed`` (a 200 whose body is not JSON), ``truncated`` (a
200 with the first half of the JSON). :data:`CLIENT_FAULT` maps them to the backend's counters.
``injected`` counts what was injected, ``answered`` the proper answers.

Prompts of a political instrument (numbered options ``1) ...`` in a user message, no ``(A):``
block) are answered in option labels instead of letters: :func:`expected_option_logprob` (label
tokens ``"k"`` and ``" k"``, distractors ``"(k"`` and ``"k."`` that must not count) and
:func:`expected_option_text` (``"2"``, ``"2) Agree"``, ``"Agree"``, ``"(2)"``, or an unreadable
sentence). A prompt without options that asks about a "proposition" (an open-ended template) gets
free text: :func:`expected_free_text`.

Other switches: ``api_key`` (401 unless ``Authorization: Bearer <api_key>``; the 401 message
echoes the key it got, as some servers do), ``models`` (404 model_not_found for others),
``logprobs=False`` (answers carry ``"logprobs": null``), ``max_prompt_chars`` (400 context length
exceeded for longer prompts), ``flag_word`` (400 invalid_prompt, "flagged", for prompts
containing it), ``latency`` (seconds before each answer).
"""

from __future__ import annotations

import hashlib
import json
from urllib.parse import urlsplit
import math
import re
import random
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Sequence

LETTERS = ("A", "B", "C")
FAULTS = ("429", "500", "502", "503", "504", "drop", "drop_mid", "timeout", "malformed", "truncated")
#: Server fault kind -> the backend's fault_counts key.
CLIENT_FAULT = {
    "429": "http_429", "500": "http_500", "502": "http_502", "503": "http_503", "504": "http_504",
    "drop": "dropped", "drop_mid": "dropped", "timeout": "timeout",
    "malformed": "malformed_json", "truncated": "truncated_json",
}
REFUSAL = "I'm sorry, but I can't help with that."


def _digest(messages: Sequence[dict], seed: int | None = None) -> bytes:
    text = json.dumps([[m.get("role"), m.get("content")] for m in messages], ensure_ascii=False)
    if seed is not None:
        text += f"\x1f{seed}"
    return hashlib.sha256(text.encode("utf-8")).digest()


def _letter_masses(messages: Sequence[dict]) -> tuple[int, list[tuple[str, float]], list[float] | None]:
    """(intended letter, top tokens with probabilities, per-letter mass or None when no letter)."""
    h = _digest(messages)
    c = h[0] % 3
    second, third = (c + 1) % 3, (c + 2) % 3
    junk = [("The", 0.05), ("I", 0.04), ("\n", 0.02)]
    if h[1] % 37 == 0:  # no letter among the top tokens
        return -1, junk + [("Sorry", 0.3), ("As", 0.2)], None
    mass = [0.0, 0.0, 0.0]
    mass[c] = 0.20 + 0.08 * h[2] / 255
    mass[second] = 0.05 + 0.05 * h[3] / 255
    mass[third] = 0.01 + 0.02 * h[4] / 255
    tokens: list[tuple[str, float]] = []
    for i, letter in enumerate(LETTERS):  # each letter as "X" (70 %) and " X" (30 %)
        tokens += [(letter, 0.7 * mass[i]), (" " + letter, 0.3 * mass[i])]
    # distractors that must NOT count as letters: "(X" outweighs the intended letter, "x" is a word
    tokens += [("(" + LETTERS[third], 0.40), (LETTERS[third].lower(), 0.05)] + junk
    return c, tokens, mass


def expected_logprob(messages: Sequence[dict]) -> tuple[int, tuple[float, float, float]]:
    """The choice and renormalised A/B/C probabilities a correct logprob backend reads."""
    c, _, mass = _letter_masses(messages)
    if mass is None:
        return -1, (math.nan, math.nan, math.nan)
    total = sum(mass)
    return c, tuple(m / total for m in mass)  # type: ignore[return-value]


def expected_text(messages: Sequence[dict], seed: int) -> tuple[str, int]:
    """The generated text for ``messages`` and ``seed``, and the letter it names (-1: refusal)."""
    h = _digest(messages, seed)
    c = h[0] % 3
    letter = LETTERS[c]
    form = h[1] % 5
    if form == 4:
        return REFUSAL, -1
    return (letter, f"({letter})", f"{letter}) I would say so.", f"Answer: {letter}")[form], c


_NUMBERED = re.compile(r"^(\d+)\) (.+)$", re.MULTILINE)
_LETTER_BLOCK = re.compile(r"^\(A\): ", re.MULTILINE)
UNREADABLE = "It depends on many factors, so I would rather not pick one."
FREE_TEXTS = ("I strongly agree with this proposition.", "I mostly disagree with it.",
              "This is a complex question and reasonable people differ.", REFUSAL)


def numbered_options(messages: Sequence[dict]) -> list[str]:
    """The option texts of the last user message with a numbered block (``1) ...``); [] if none
    or if a BBQ letter block is present (those prompts keep the letter behaviour)."""
    for m in reversed(list(messages)):
        content = m.get("content") or ""
        if m.get("role") != "user" or _LETTER_BLOCK.search(content):
            continue
        found = _NUMBERED.findall(content)
        if len(found) >= 2 and [int(n) for n, _ in found] == list(range(1, len(found) + 1)):
            return [text for _, text in found]
    return []


def _option_masses(messages: Sequence[dict], n: int) -> tuple[int, list[tuple[str, float]], list[float] | None]:
    """As :func:`_letter_masses`, for labels "1".."n"."""
    h = _digest(messages)
    if h[1] % 23 == 0:
        return -1, [("I", 0.3), ("As", 0.2), ("The", 0.1)], None
    c = h[0] % n
    mass = [0.01 + 0.03 * h[2 + k] / 255 for k in range(n)]
    mass[c] = 0.30 + 0.1 * h[10] / 255
    tokens: list[tuple[str, float]] = []
    for k in range(n):
        tokens += [(str(k + 1), 0.8 * mass[k]), (" " + str(k + 1), 0.2 * mass[k])]
    other = (c + 1) % n
    tokens += [("(" + str(other + 1), 0.35), (str(other + 1) + ".", 0.2), ("The", 0.02)]
    return c, tokens, mass


def expected_option_logprob(messages: Sequence[dict]) -> tuple[int, tuple[float, ...]]:
    """The presented option index and renormalised label probabilities a correct backend reads
    (with ``top_logprobs`` of at least 2n + 3)."""
    n = len(numbered_options(messages))
    c, _, mass = _option_masses(messages, n)
    if mass is None:
        return -1, ()
    return c, tuple(m / sum(mass) for m in mass)


def expected_option_text(messages: Sequence[dict], seed: int) -> tuple[str, int]:
    """The generated text for a numbered-options prompt and the presented option it names (-1: none)."""
    options = numbered_options(messages)
    h = _digest(messages, seed)
    c = h[0] % len(options)
    form = h[1] % 5
    if form == 4:
        return UNREADABLE, -1
    return (str(c + 1), f"{c + 1}) {options[c]}", options[c], f"({c + 1})")[form], c


def expected_free_text(messages: Sequence[dict], seed: int) -> str:
    """The generated text for an open-ended prompt (no options)."""
    return FREE_TEXTS[_digest(messages, seed)[0] % len(FREE_TEXTS)]


def _error(message: str, code: Any = None, type_: str = "invalid_request_error") -> dict:
    return {"error": {"message": message, "type": type_, "param": None, "code": code}}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 256
    allow_reuse_address = True
    fake: "FakeOpenAIServer"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as separate writes: no 40 ms delayed-ACK stalls
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def send_body(self, status: int, body: bytes | dict, headers: dict[str, str] | None = None,
                  length: int | None = None) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode("utf-8")
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data) if length is None else length))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()
        except OSError:  # the client left
            self.close_connection = True

    def do_GET(self) -> None:  # noqa: N802
        fake = self.server.fake
        if not urlsplit(self.path).path.rstrip("/").endswith("/v1/models"):  # a key may precede /v1
            return self.send_body(404, {"detail": "Not Found"})
        if not fake._authorised(self):
            return
        self.send_body(200, {"object": "list", "data": [{"id": m, "object": "model", "owned_by": "fake"} for m in fake.models]})

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.fake.paths.append(self.path)
        if not urlsplit(self.path).path.rstrip("/").endswith("/v1/chat/completions"):
            return self.send_body(404, {"detail": "Not Found"})
        self.server.fake._chat(self, body)


class FakeOpenAIServer:
    """See the module docstring. Use as a context manager; ``url`` is the base URL (with /v1)."""

    def __init__(
        self,
        *,
        models: Sequence[str] = ("fake-model",),
        api_key: str | None = None,
        logprobs: bool = True,
        fail_first: Sequence[str] = (),
        fault_rate: float = 0.0,
        faults: Sequence[str] = FAULTS,
        seed: int = 0,
        retry_after: str | None = "0",
        stall: float = 1.5,
        max_prompt_chars: int | None = None,
        flag_word: str | None = None,
        latency: float = 0.0,
    ) -> None:
        unknown = [f for f in (*fail_first, *faults) if f not in FAULTS]
        assert not unknown, f"unknown fault kinds {unknown}"
        self.models = tuple(models)
        self.api_key = api_key
        self.logprobs = logprobs
        self.fail_first = tuple(fail_first)
        self.fault_rate = fault_rate
        self.faults = tuple(faults)
        self.retry_after = retry_after
        self.stall = stall
        self.max_prompt_chars = max_prompt_chars
        self.flag_word = flag_word
        self.latency = latency
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._attempts: Counter[bytes] = Counter()
        self.injected: Counter[str] = Counter()
        self.answered = 0
        self.chat_requests = 0
        self.seeds: list[int] = []
        self.last_payload: dict | None = None
        self.authorizations: set[str] = set()
        self.paths: list[str] = []
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle --------------------------------------------------------------------------------

    def start(self) -> "FakeOpenAIServer":
        httpd = _Server(("127.0.0.1", 0), _Handler)
        httpd.fake = self
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-openai-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            if self._thread is not None:
                self._thread.join(5)
            self._httpd = None

    def __enter__(self) -> "FakeOpenAIServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._httpd is not None, "start() the server first"
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    # -- handling ---------------------------------------------------------------------------------

    def _authorised(self, h: _Handler) -> bool:
        auth = h.headers.get("Authorization") or ""
        with self._lock:
            self.authorizations.add(auth)
        if self.api_key is None or auth == f"Bearer {self.api_key}":
            return True
        shown = auth[len("Bearer "):] if auth.startswith("Bearer ") else "(none)"
        h.send_body(401, _error(f"Incorrect API key provided: {shown}. You can find your API key at "
                                "https://platform.openai.com/account/api-keys.", "invalid_api_key"))
        return False

    def _pick_fault(self, body: bytes) -> str | None:
        with self._lock:
            key = hashlib.sha256(body).digest()
            n = self._attempts[key]
            self._attempts[key] += 1
            if n < len(self.fail_first):
                fault: str | None = self.fail_first[n]
            elif self.fault_rate and self._rng.random() < self.fault_rate:
                fault = self._rng.choice(self.faults)
            else:
                fault = None
            if fault:
                self.injected[fault] += 1
            return fault

    def _chat(self, h: _Handler, body: bytes) -> None:
        with self._lock:
            self.chat_requests += 1
        try:
            req = json.loads(body)
        except ValueError:
            return h.send_body(400, _error("We could not parse the JSON body of your request."))
        if not self._authorised(h):
            return
        model = req.get("model")
        if model not in self.models:
            return h.send_body(404, _error(f"The model `{model}` does not exist or you do not have access to it.",
                                           "model_not_found"))
        messages = req.get("messages") or []
        if self.max_prompt_chars is not None and sum(len(m.get("content") or "") for m in messages) > self.max_prompt_chars:
            return h.send_body(400, _error(f"This model's maximum context length is {self.max_prompt_chars} tokens. "
                                           "However, your messages resulted in more tokens.", "context_length_exceeded"))
        if self.flag_word and any(self.flag_word in (m.get("content") or "") for m in messages):
            return h.send_body(400, _error("Invalid prompt: your prompt was flagged as potentially violating our "
                                           "usage policy. Please try again with a different prompt.", "invalid_prompt"))
        fault = self._pick_fault(body)
        if fault == "timeout":
            time.sleep(self.stall)
            h.close_connection = True
            return
        if fault == "drop":
            h.close_connection = True
            return
        if fault in ("429", "500", "502", "503", "504"):
            headers = {"Retry-After": self.retry_after} if fault == "429" and self.retry_after is not None else {}
            return h.send_body(int(fault), _error(f"fake fault {fault}", None, "server_error"), headers)
        if self.latency:
            time.sleep(self.latency)
        answer = json.dumps(self._completion(req, messages)).encode("utf-8")
        if fault == "malformed":
            return h.send_body(200, b'{"id": "x", "choices": [{"index": 0,, }]}')
        if fault == "truncated":
            return h.send_body(200, answer[: len(answer) // 2])
        if fault == "drop_mid":
            h.send_body(200, answer[: len(answer) // 2], length=len(answer))
            h.close_connection = True
            return
        with self._lock:
            self.answered += 1
            self.last_payload = req
            if "seed" in req:
                self.seeds.append(req["seed"])
        h.send_body(200, answer)

    def _completion(self, req: dict, messages: list) -> dict:
        logprobs = None
        options = numbered_options(messages)
        if req.get("logprobs") and req.get("max_tokens") == 1:
            _, tokens, _ = _option_masses(messages, len(options)) if options else _letter_masses(messages)
            k = int(req.get("top_logprobs") or 0)
            top = sorted(tokens, key=lambda t: -t[1])[:k]
            text = top[0][0] if top else "A"
            if self.logprobs:
                logprobs = {"content": [{
                    "token": text, "logprob": math.log(top[0][1]) if top else 0.0, "bytes": list(text.encode()),
                    "top_logprobs": [{"token": t, "logprob": math.log(p), "bytes": list(t.encode())} for t, p in top],
                }]}
        elif options:
            text, _ = expected_option_text(messages, int(req.get("seed", 0)))
        elif any("proposition" in (m.get("content") or "") for m in messages) and not any(
                _LETTER_BLOCK.search(m.get("content") or "") for m in messages):
            text = expected_free_text(messages, int(req.get("seed", 0)))
        else:
            text, _ = expected_text(messages, int(req.get("seed", 0)))
        return {
            "id": "chatcmpl-fake", "object": "chat.completion", "created": 0, "model": req.get("model"),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                         "logprobs": logprobs, "finish_reason": "length" if req.get("max_tokens") == 1 else "stop"}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 1, "total_tokens": 11},
        }
