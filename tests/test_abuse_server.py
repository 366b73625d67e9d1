"""Abuse cases of issue 13 that involve a server: secrets in URLs and environment variables,
impossible log-probabilities, and a server that drips its answer one byte at a time."""

from __future__ import annotations

import json
import logging
import math
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


from socialbias.backends.base import Prompt
from socialbias.backends.openai import OpenAIBackend
from socialbias.eval import main
from socialbias.store import ResponseStore
from tests.conftest import BBQ_DIR
from tests.fake_openai_server import FakeOpenAIServer

GRID = ["--bbq-dir", str(BBQ_DIR), "--categories", "Sexual_orientation", "--personas", "gay", "--instructions", "0",
        "--limit", "3", "--n-boot", "0", "--quiet"]


def _no_report(tmp_path: Path) -> str:
    path = tmp_path / "no-report.toml"
    path.write_text("report = false\n")
    return str(path)


def _leaks(out: Path, text: str, needles: list[str]) -> list[str]:
    found = [str(p) for p in out.rglob("*") if p.is_file() and any(n.encode() in p.read_bytes() for n in needles)]
    return found + [f"output: {n}" for n in needles if n in text]


def test_credentials_in_the_server_url_are_never_stored_printed_or_hashed(tmp_path, capsys, caplog, monkeypatch):
    user, path_key, query_key = (f"tok{secrets.token_hex(12)}", f"Key{secrets.token_hex(12)}X",
                                 f"q{secrets.token_hex(12)}")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with FakeOpenAIServer() as server:
        port = server.url.split(":")[2].split("/")[0]
        url = f"http://{user}@127.0.0.1:{port}/{path_key}/v1?api_key={query_key}"
        out = tmp_path / "run"
        code = main(["run", "--backend", "openai", "--base-url", url, "--model", "fake-model", *GRID,
                     "--out", str(out)])
        assert code == 0, capsys.readouterr().err
        assert server.answered == 6 and all(path_key in p and query_key in p for p in server.paths)  # it was used
    text = "".join(capsys.readouterr()) + caplog.text
    assert _leaks(out, text, [user, path_key, query_key]) == []
    record = json.loads((out / "run.json").read_text())
    assert record["config"]["base_url"] == f"http://127.0.0.1:{port}/[redacted]/v1"


def test_api_key_env_names_the_variable_the_key_is_sent_never_stored(tmp_path, capsys, caplog, monkeypatch):
    key = f"sk-abuse-{secrets.token_hex(16)}"
    monkeypatch.setenv("MY_ABUSE_KEY", key)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with FakeOpenAIServer(api_key=key) as server:
        out = tmp_path / "run"
        assert main(["run", "--backend", "openai", "--base-url", server.url, "--model", "fake-model", *GRID,
                     "--api-key-env", "MY_ABUSE_KEY", "--out", str(out)]) == 0
        assert server.authorizations == {f"Bearer {key}"}  # sent, on every request
        # the key itself given as the name: refused without echoing it, nothing asked or written
        requests = server.chat_requests
        assert main(["run", "--backend", "openai", "--base-url", server.url, "--model", "fake-model", *GRID,
                     "--api-key-env", key, "--out", str(tmp_path / "b")]) == 2
        assert server.chat_requests == requests
    err = capsys.readouterr().err
    assert "NAME of an environment variable" in err and not (tmp_path / "b").exists()
    assert _leaks(out, err + caplog.text, [key, key[len("sk-abuse-"):]]) == []
    assert json.loads((out / "run.json").read_text())["config"]["api_key_env"] == "MY_ABUSE_KEY"
    assert main(["run", "--backend", "openai", "--base-url", "http://127.0.0.1:9/v1", "--model", "m", *GRID,
                 "--api-key-env", "NOT_SET_ANYWHERE_13", "--out", str(tmp_path / "c")]) == 2
    assert "NOT_SET_ANYWHERE_13 is not set" in capsys.readouterr().err


class _Scripted(BaseHTTPRequestHandler):
    """Answers chat completions as ``server.script(n)`` says: ("json", dict) or ("drip", seconds)."""

    def log_message(self, *args):  # quiet
        pass

    def do_POST(self):  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with self.server.lock:
            n = self.server.count
            self.server.count += 1
        kind, what = self.server.script(n)
        if kind == "json":
            body = json.dumps(what).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "100000")
        self.end_headers()
        end = time.monotonic() + what
        try:
            while time.monotonic() < end:
                self.wfile.write(b" ")
                self.wfile.flush()
                time.sleep(0.05)
        except OSError:
            pass
        self.close_connection = True


def _serve(script):
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Scripted)
    httpd.script, httpd.count, httpd.lock = script, 0, threading.Lock()
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return httpd, f"http://127.0.0.1:{httpd.server_address[1]}/v1"


def _completion(logprobs: dict[str, float]) -> dict:
    top = [{"token": t, "logprob": lp} for t, lp in logprobs.items()]
    return {"choices": [{"index": 0, "message": {"role": "assistant", "content": "A"},
                         "logprobs": {"content": [{"token": "A", "logprob": -0.1, "top_logprobs": top}]}}]}


def _prompts(n: int) -> list[Prompt]:
    return [Prompt(f"p{i}", [{"role": "user", "content": f"question {i}"}]) for i in range(n)]


def test_impossible_log_probabilities_are_invalid_answers_counted_with_a_warning(caplog):
    bad = [{"A": -0.5, "B": 2.0, "C": -3.0}, {"A": math.nan, "B": -1.0, "C": -2.0}, {"A": -1.0, "B": math.inf}]
    good = {"A": -2.0, "B": -0.2, "C": -3.0}
    httpd, url = _serve(lambda n: ("json", _completion(bad[n % 3] if n % 2 else good)))
    try:
        backend = OpenAIBackend("m", url, concurrency=1, api_key_env=None, timeout=5)
        with caplog.at_level(logging.WARNING):
            answers = list(backend.answer(_prompts(6)))
    finally:
        httpd.shutdown()
    invalid = [a for a in answers if a.parse == "logprob:invalid"]
    assert len(answers) == 6 and len(invalid) == 3
    assert all(a.choice == -1 and math.isnan(a.p0) for a in invalid)
    assert all(a.choice == 1 for a in answers if a.parse == "logprob")
    assert backend.fault_counts["impossible_logprobs"] == 3
    assert "3 answer(s)" in caplog.text and "impossible log-probabilities" in caplog.text


def test_a_dripping_server_hits_the_total_deadline_and_the_answers_so_far_are_kept(tmp_path, capsys):
    good = _completion({"A": -0.1, "B": -3.0, "C": -4.0})
    httpd, url = _serve(lambda n: ("json", good) if n < 2 else ("drip", 30))
    out = tmp_path / "run"
    start = time.monotonic()
    try:
        code = main(["run", "--backend", "openai", "--base-url", url, "--model", "m", *GRID, "--concurrency", "1",
                     "--request-timeout", "1", "--max-retries", "1", "--config", _no_report(tmp_path),
                     "--out", str(out)])
    finally:
        httpd.shutdown()
    elapsed = time.monotonic() - start
    err = capsys.readouterr().err.strip()
    assert code == 1 and elapsed < 20, (code, elapsed, err)
    assert "no complete answer within the deadline of 3 s" in err and "answers so far are kept" in err
    with ResponseStore.open(out) as store:
        assert store.count() == 2  # answered before the server started dripping


def test_settings_fail_before_any_request_is_sent(tmp_path, capsys):
    with FakeOpenAIServer() as server:
        for bad in (["--n-boot", "-1"], ["--ci", "1.5"], ["--limit", "-1"], ["--personas", ""],
                    ["--instructions", "40000"], ["--request-timeout", "0"], ["--concurrency", "0"]):
            assert main(["run", "--backend", "openai", "--base-url", server.url, "--model", "fake-model", *GRID, *bad,
                         "--out", str(tmp_path / "x")]) == 2, bad
            assert len(capsys.readouterr().err.strip().splitlines()) == 1
        assert server.chat_requests == 0 and not (tmp_path / "x").exists()
