"""The answering loop: resume from the store, answer repeated prompts once when deterministic."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import pytest

from socialbias.backends import Decoding
from socialbias.expand import expand
from socialbias.personas import load_instructions, load_personas
from socialbias.runner import answer_prompts
from socialbias.store import Answer, ResponseStore


@dataclass
class CountingBackend:
    """Answers from a hash of the messages (+ sample when sampling); records what it was asked."""

    key: str = "fake:counting:0"
    decoding: Decoding = field(default_factory=Decoding)
    asked: list[str] = field(default_factory=list)
    fail_after: int | None = None

    def answer(self, prompts, mode):
        for i, p in enumerate(prompts):
            if self.fail_after is not None and i >= self.fail_after:
                raise KeyboardInterrupt
            self.asked.append(p.prompt_id)
            text = repr(p.messages) + (f"#{p.sample}" if self.decoding.temperature > 0 else "")
            choice = hashlib.sha256(text.encode()).digest()[0] % 3
            yield Answer(p.prompt_id, self.key, choice, parse=mode)


@pytest.fixture()
def prompts(bbq_items):
    items = bbq_items[bbq_items.category == "Sexual_orientation"].head(20)
    return expand(items, load_personas(names=["gay", "straight"]), load_instructions())


def test_deterministic_mode_asks_each_text_once(tmp_path, prompts):
    backend = CountingBackend()
    with ResponseStore.open(tmp_path) as store:
        stats = answer_prompts(prompts, backend, store, "logprob", progress=False)
        # 20 items x (2 personas x 5 runs + 1 default text) distinct texts, 20 x 15 prompts stored.
        assert stats.asked == len(backend.asked) == 20 * 11
        assert store.count(backend.key) == len(prompts) == 20 * 15
        stored = store.responses(backend.key).set_index("prompt_id")
        default = prompts[prompts.persona == ""]
        per_item = stored.loc[default.prompt_id, "choice"].groupby(default.item_id.to_numpy()).nunique()
        assert (per_item == 1).all()  # the five copies carry the one answer
        again = answer_prompts(prompts, backend, store, "logprob", progress=False)
        assert again.asked == 0 and again.cached == len(prompts)


def test_sampling_mode_asks_every_copy(tmp_path, prompts):
    backend = CountingBackend(decoding=Decoding(temperature=1.0))
    with ResponseStore.open(tmp_path) as store:
        stats = answer_prompts(prompts, backend, store, "generate", progress=False)
        assert stats.asked == len(prompts) and sorted(backend.asked) == sorted(prompts.prompt_id)


def test_interrupted_run_resumes_without_loss_or_duplicates(tmp_path, prompts):
    with ResponseStore.open(tmp_path) as store:
        with pytest.raises(KeyboardInterrupt):
            answer_prompts(prompts, CountingBackend(fail_after=37), store, "logprob", batch_size=10, progress=False)
        # Ctrl-C: what was answered is committed (the writer flushes on the way out).
        assert store.count("fake:counting:0") >= 37
        resumed = CountingBackend()
        answer_prompts(prompts, resumed, store, "logprob", batch_size=10, progress=False)
        assert store.count("fake:counting:0") == len(prompts)
        assert len(resumed.asked) == 20 * 11 - 37
