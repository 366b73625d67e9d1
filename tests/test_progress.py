"""The progress bar's ETA (socialbias.runner.Progress): per unit of cost, not per prompt.

The HF backend answers the longest prompts of a window first, so an ETA from prompts per second
overestimates early. These tests answer prompts of very different lengths longest first with
a fake backend whose cost is proportional to length, on a fake clock, and check the ETA after
a third of the true time against the truth (within a factor of two), and that the per-prompt
ETA would fail the same check (so the test can fail)."""

from __future__ import annotations

import random

import pandas as pd

from socialbias.runner import Progress, answer_prompts, prompt_weights
from socialbias.store import Answer, ResponseStore


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _prompts(n: int = 300, seed: int = 0) -> pd.DataFrame:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        length = int(10 ** rng.uniform(1.5, 3.5))  # 30 to 3,000 characters
        rows.append({"prompt_id": f"p{i}", "messages": [{"role": "system", "content": "x" * length},
                                                         {"role": "user", "content": "Answer:"}]})
    return pd.DataFrame(rows)


class LengthCostBackend:
    """Answers longest first (as the HF backend does); each answer costs time proportional to
    its prompt's characters, plus a small fixed cost, on the fake ``clock``."""

    key = "fake:length-cost:0"
    deterministic = True

    def __init__(self, clock: Clock, per_char: float = 0.01, fixed: float = 0.05) -> None:
        self.clock, self.per_char, self.fixed = clock, per_char, fixed

    def cost(self, prompt) -> float:
        return self.fixed + self.per_char * sum(len(m["content"]) for m in prompt.messages)

    def answer(self, prompts, mode=None):
        for p in sorted(prompts, key=lambda p: -self.cost(p)):
            self.clock.now += self.cost(p)
            yield Answer(p.prompt_id, self.key, 0, 1.0, 0.0, 0.0, parse="logprob")


def _eta_at_third(weights):
    from socialbias.backends.base import prompts_from_table

    table = _prompts()
    clock = Clock()
    backend = LengthCostBackend(clock)
    truth = sum(backend.cost(p) for p in prompts_from_table(table))
    progress = Progress(len(table), weights(table), enabled=False, clock=clock)
    for answer in backend.answer(prompts_from_table(table)):
        progress.update([answer.prompt_id])
        if clock.now >= truth / 3:
            return progress.eta(), truth - clock.now


def test_eta_per_character_is_within_a_factor_of_two_after_a_third():
    eta, remaining = _eta_at_third(prompt_weights)
    assert remaining / 2 <= eta <= 2 * remaining, (eta, remaining)
    assert abs(eta / remaining - 1) < 0.25  # cost is nearly proportional to length: close


def test_eta_per_prompt_would_fail_the_same_check():
    eta, remaining = _eta_at_third(lambda table: {})  # no weights: every prompt counts 1
    assert eta > 2 * remaining, (eta, remaining)


def test_eta_before_any_answer_is_unknown_and_zero_at_the_end():
    clock = Clock()
    progress = Progress(2, {"a": 10.0, "b": 30.0}, enabled=False, clock=clock)
    assert progress.eta() is None
    clock.now = 3.0
    progress.update(["b"])
    assert progress.eta() == 1.0  # 10 of 40 characters left at 10 per second
    clock.now = 3.25
    assert progress.eta() == 0.75  # counted down between answers (the bar is redrawn every second)
    clock.now = 4.0
    progress.update(["a"])
    assert progress.eta() == 0.0 and progress.done == 2


def test_a_run_prints_counts_first_then_a_bar_with_an_eta(tmp_path, capsys):
    table = _prompts(40)
    table["item_id"] = table["prompt_id"]
    backend = LengthCostBackend(Clock())
    with ResponseStore.open(tmp_path) as store:
        stats = answer_prompts(table, backend, store, "logprob", progress=True)
    err = capsys.readouterr().err
    assert stats.asked == 40
    assert err.splitlines()[0].startswith("40 prompts (40 distinct, 0 copies): 0 cached in the store; asking 40")
    assert "40/40 prompts" in err and "ETA" in err
