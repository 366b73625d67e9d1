"""What every adapter shares: option reordering, hub revision pinning, the final table."""

from __future__ import annotations

import types

import pytest

from socialbias.bbq_adapters import DatasetError
from socialbias.bbq_adapters.common import finish_items, pin_revision
from socialbias.bbq_adapters.options import PERMUTATIONS, permutation_for, reorder
from socialbias.bbq_adapters.schema import LoadReport

ROW = {
    "category": "Age", "example_id": 1, "question_index": "1", "polarity": "neg", "context_condition": "disambig",
    "context": "c", "question": "q", "option0": "the old man", "option1": "the boy", "option2": "unknown",
    "target0": "old", "target1": "nonOld", "target2": "unknown", "unknown_idx": 2, "stereotyped_idx": 0, "label": 1,
}


def test_every_order_keeps_indices_on_their_text():
    for order in PERMUTATIONS:
        out = reorder(ROW, order)
        assert out[f"option{out['label']}"] == "the boy"
        assert out[f"option{out['unknown_idx']}"] == "unknown" and out[f"target{out['unknown_idx']}"] == "unknown"
        assert out[f"option{out['stereotyped_idx']}"] == "the old man"
        assert sorted(out[f"target{i}"] for i in range(3)) == ["nonOld", "old", "unknown"]
    assert ROW["option0"] == "the old man"  # the input is not changed
    assert reorder({**ROW, "stereotyped_idx": -1}, (2, 0, 1))["stereotyped_idx"] == -1
    with pytest.raises(ValueError):
        reorder(ROW, (0, 0, 1))


def test_permutations_are_seeded_and_balanced():
    keys = [f"item{i}" for i in range(6000)]
    orders = [permutation_for(k, 0) for k in keys]
    assert orders == [permutation_for(k, 0) for k in keys]
    assert orders != [permutation_for(k, 1) for k in keys]
    counts = {p: orders.count(p) for p in PERMUTATIONS}
    assert all(900 < c < 1100 for c in counts.values()), counts


def test_pin_revision_resolves_a_branch_to_its_commit(monkeypatch):
    sha = "0123456789abcdef0123456789abcdef01234567"
    assert pin_revision("org/data", sha) == sha
    import huggingface_hub

    seen = {}

    def info(self, repo, revision=None):
        seen["call"] = (repo, revision)
        return types.SimpleNamespace(sha=sha)

    monkeypatch.setattr(huggingface_hub.HfApi, "dataset_info", info)
    assert pin_revision("org/data", "main") == sha and seen["call"] == ("org/data", "main")

    def offline(self, repo, revision=None):
        raise OSError("offline")

    monkeypatch.setattr(huggingface_hub.HfApi, "dataset_info", offline)
    assert pin_revision("org/data", "main") == "main"


def test_pinned_commit_is_what_kobbq_reads_and_records(monkeypatch, tmp_path):
    import datasets
    import huggingface_hub

    sha = "fedcba9876543210fedcba9876543210fedcba98"
    monkeypatch.setattr(huggingface_hub.HfApi, "dataset_info", lambda self, repo, revision=None:
                        types.SimpleNamespace(sha=sha))
    calls = []

    def fake_load(*args, **kwargs):
        calls.append(kwargs.get("revision"))
        raise ConnectionError("no network in tests")

    monkeypatch.setattr(datasets, "load_dataset", fake_load)
    from socialbias.bbq_adapters import load_items
    from tests.conftest import FAMILY_DIR

    with pytest.raises(DatasetError, match=sha[:7]):
        load_items("kobbq", source=None, templates=FAMILY_DIR / "KoBBQ" / "data" / "KoBBQ_templates.tsv")
    assert calls == [sha]


def test_finish_items_refuses_duplicate_ids():
    rows = [dict(ROW), dict(ROW)]
    with pytest.raises(DatasetError, match="share the id 'x/Age/1'"):
        finish_items(rows, dataset="x", language="en", report=LoadReport("x"))
    table = finish_items([dict(ROW)], dataset="x", language="ko", report=LoadReport("x"))
    assert table.loc[0, "item_id"] == "x/Age/1" and table.loc[0, "language"] == "ko"
    assert table.attrs["load_report"]["dataset"] == "x"


def test_no_dataset_ships_as_package_data():
    """Licences (BasqBBQ non-commercial, JBBQ no redistribution, MBBQ none): the packages hold
    code, translations and persona catalogues only, never a dataset file."""
    from tests.conftest import REPO

    allowed = {".py", ".toml", ".md", ".txt", ".csv"}
    # the political instruments are MIT / CC BY 4.0 and ship with licence + attribution files
    # (checked in tests/test_politics_instruments.py); they are not BBQ-family datasets
    instruments = REPO / "socialbias" / "instruments" / "politics"
    for package in ("bbq_adapters", "socialbias", "metrics"):
        for path in (REPO / package).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts and instruments not in path.parents:
                assert path.suffix in allowed, f"{path} looks like data: datasets are read from the user's path"
                if path.suffix == ".csv":  # persona catalogues only: a few hundred rows, no item text
                    assert path.parent.name in ("data", "catalogues"), path
                    assert path.stat().st_size < 100_000, path
