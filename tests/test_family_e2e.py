"""End to end on every BBQ-family dataset: a study on a tiny random model, and `score` on
simulated answers, each one CLI flag (``--dataset NAME``) away from the BBQ study.

Local data come from ../shared/bbq_family (KoBBQ, CBBQ, EsBBQ/CaBBQ, BasqBBQ); MBBQ and JBBQ,
whose data cannot be shared, from small files written in their documented formats
(tests/family_samples.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from socialbias.eval import main
from tests.conftest import FAMILY_DIR
from tests.tiny_model import tiny_corpus, tiny_model_dir  # noqa: F401  (fixtures)

#: dataset -> (language of its items, where its data are: a ../shared folder or a sample writer)
DATASETS: dict[str, tuple[str, str]] = {
    "kobbq": ("ko", "KoBBQ"),
    "cbbq": ("zh", "CBBQ"),
    "esbbq": ("es", "EsBBQ-CaBBQ"),
    "cabbq": ("ca", "EsBBQ-CaBBQ"),
    "basqbbq": ("eu", "BasqBBQ"),
    "mbbq": ("nl", "sample"),
    "jbbq": ("ja", "sample"),
}


def _source(dataset: str, tmp_path: Path) -> tuple[Path, dict]:
    """The data path to pass as --data-dir, and the dataset options (MBBQ: which language)."""
    folder = DATASETS[dataset][1]
    if folder != "sample":
        path = FAMILY_DIR / folder
        if not path.is_dir():
            pytest.fail(f"the {dataset} data are expected at {path} (../shared beside the repository)")
        return path, {}
    from tests import family_samples

    if dataset == "mbbq":
        return family_samples.write_mbbq_sample(tmp_path / "mbbq", languages=("nl",)), {"language": "nl"}
    return family_samples.write_jbbq_sample(tmp_path / "jbbq"), {}


def _option_flags(options: dict) -> list[str]:
    return [f for k, v in options.items() for f in ("--dataset-option", f"{k}={v}")]


def _one_category(dataset: str, source: Path, options: dict) -> tuple[str, pd.DataFrame]:
    """The category with the fewest personas that has items of both contexts, and its items."""
    from socialbias.bbq_adapters import load_items
    from socialbias.personas import load_personas

    items = load_items(dataset, source=source, **options)
    items = items[~items["excluded"]]
    personas = load_personas("paper", dataset=dataset, language=DATASETS[dataset][0])
    both = [c for c, g in items.groupby("category") if set(g["context_condition"]) == {"ambig", "disambig"}]
    assert both, f"{dataset}: no category has both contexts"
    size = personas.groupby("persona_category").size()
    category = min(both, key=lambda c: (size.get(c, 0) == 0, size.get(c, 0), c))
    return category, items[items["category"] == category]


@pytest.mark.parametrize("dataset", sorted(DATASETS))
def test_study_on_a_tiny_model(dataset, tmp_path, tiny_model_dir):
    from socialbias.languages import load_language
    from socialbias.pipeline import RunConfig, study_inputs

    language = DATASETS[dataset][0]
    source, options = _source(dataset, tmp_path)
    category, _ = _one_category(dataset, source, options)
    out = tmp_path / "run"
    args = ["run", "--model", str(tiny_model_dir), "--backend", "hf", "--dataset", dataset, "--data-dir", str(source),
            *_option_flags(options), "--categories", category, "--limit", "4", "--instructions", "0",
            "--n-boot", "10", "--quiet", "--out", str(out)]
    assert main(args) == 0

    record = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert record["dataset"]["name"] == dataset and record["dataset"]["licence"] and record["dataset"]["citation"]
    assert record["prompt_language"]["code"] == language
    assert "not yet reviewed" in record["prompt_language"]["reviewed"]
    summary = pd.read_csv(out / "results" / "summary.csv")
    assert set(summary["category"]) == {category}
    assert summary["n_responses"].sum() > 0 and np.isfinite(summary["BAmt"]).all()
    if dataset == "cbbq":  # disambiguated labels follow polarity only: s_dis means nothing here
        assert summary["s_dis"].isna().all() and summary["s_amb_paper"].isna().all()
        assert "s_dis" in json.loads((out / "results" / "config.json").read_text())["undefined_metrics"]

    # Every prompt is in the dataset's language: its instruction, task sentence and answer cue.
    inputs = study_inputs(RunConfig(dataset=dataset, bbq_dir=str(source), dataset_options=options or None,
                                    categories=[category], limit=4, instructions=[0]))
    lang = load_language(language)
    stored = pd.read_parquet(out / "prompts.parquet")
    assert sorted(stored["prompt_id"]) == sorted(inputs.prompts["prompt_id"])
    personas = inputs.prompts[inputs.prompts["persona"] != ""]
    assert len(personas), f"{dataset}: no persona of {category} in the catalogue"
    first = personas.iloc[0]
    messages = first["messages"]
    assert messages[0]["content"] == lang.instructions[0].format(first["persona"])
    assert messages[1]["content"].startswith(lang.task.split("{context}")[0])
    assert messages[-1]["content"] == lang.answer_cue
    # The English fallback asks the same items with the paper's frame and English persona names.
    english = study_inputs(RunConfig(dataset=dataset, bbq_dir=str(source), dataset_options=options or None,
                                     categories=[category], limit=4, instructions=[0], prompt_language="en"))
    assert english.language.code == "en"
    assert english.prompts["messages"].iloc[0][-1]["content"] == "Answer:"
    assert set(english.prompts["persona"]) != set(inputs.prompts["persona"]) or language == "en"

    # A reloaded run draws the same perception graph as the run itself: its own dataset's
    # catalogue in its own language (in-group edges kept), also for a run written before
    # personas.parquet existed (rebuilt from the run's dataset and prompt language).
    _assert_reload_keeps_graph(out, inputs.personas)


def _graph_signature(graph) -> tuple:
    import networkx as nx

    nodes = sorted((n, d.get("member_of", ""), d.get("kind", "")) for n, d in graph.nodes(data=True))
    edges = sorted((u, v, repr(round(float(d.get("TB", np.nan)), 12))) for u, v, d in graph.edges(data=True))
    assert isinstance(graph, nx.DiGraph)
    return nodes, edges


def _assert_reload_keeps_graph(out: Path, personas: pd.DataFrame) -> None:
    import shutil

    from socialbias.graph import build_graph
    from socialbias.pipeline import load_run

    reloaded = load_run(out)
    assert reloaded.personas is not None
    summary = reloaded.summary
    for _, row in summary[["model", "category", "context_condition"]].drop_duplicates().iterrows():
        expected = build_graph(reloaded.target_bias, personas, row["model"], row["category"], row["context_condition"],
                               persona_bias=reloaded.persona_bias)
        got = reloaded.graph(row["model"], row["category"], row["context_condition"])
        assert _graph_signature(got) == _graph_signature(expected)
    members = {m for m in personas["member_of"] if m}
    assert members, "the catalogue marks no persona as a member of a target group"
    legacy = out.parent / "legacy"
    shutil.copytree(out, legacy)
    (legacy / "personas.parquet").unlink()
    old = load_run(legacy)
    for _, row in summary[["model", "category", "context_condition"]].drop_duplicates().iterrows():
        assert (_graph_signature(old.graph(row["model"], row["category"], row["context_condition"]))
                == _graph_signature(reloaded.graph(row["model"], row["category"], row["context_condition"])))


@pytest.mark.parametrize("dataset", sorted(DATASETS))
def test_score_simulated_answers(dataset, tmp_path):
    from socialbias.personas import load_personas

    language = DATASETS[dataset][0]
    source, options = _source(dataset, tmp_path)
    category, items = _one_category(dataset, source, options)
    items = items.groupby("context_condition").head(60)
    personas = load_personas("paper", [category], dataset=dataset, language=language)
    rng = np.random.default_rng(7)
    lines = []
    for persona in ["", *personas["persona"]]:
        for run in (0, 1):
            for example_id in items["example_id"]:
                choice = int(rng.integers(0, 3))
                lines.append({"model": "simulated", "category": category, "example_id": int(example_id),
                              "persona": persona, "instruction": run, "choice": choice})
    path = tmp_path / "answers.jsonl"
    path.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines), encoding="utf-8")
    out = tmp_path / "scored"
    args = ["score", str(path), "--dataset", dataset, "--data-dir", str(source), *_option_flags(options),
            "--parser", "recorded", "--n-boot", "20", "--quiet", "--no-report", "--out", str(out)]
    assert main(args) == 0

    record = json.loads((out / "score.json").read_text(encoding="utf-8"))
    assert record["outcome"]["scored"] == len(lines)
    assert record["dataset"]["name"] == dataset and record["persona_language"] == language
    summary = pd.read_csv(out / "summary.csv")
    assert set(summary["context_condition"]) == {"ambig", "disambig"}
    assert np.isfinite(summary["TB"]).all() and np.isfinite(summary["PB"]).all()
    tb = pd.read_csv(out / "target_bias.csv", keep_default_na=False)
    targets = set(tb["target"])
    assert targets <= set(items[["target0", "target1", "target2"]].stack()) - {"unknown"}
    # Personas are tied to their own group, so in-group favouritism is measured on every dataset.
    ingroup = pd.read_csv(out / "ingroup.csv", keep_default_na=False)
    assert len(ingroup) > 0
    if dataset == "cbbq":
        assert summary["s_dis"].isna().all()
        assert "polarity" in record["dataset"]["undefined_metrics"]["s_dis"]
    else:
        dis = summary["context_condition"] == "disambig"
        assert np.isfinite(summary.loc[dis, "s_dis"]).all()
