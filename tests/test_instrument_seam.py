"""The instrument seam (docs/design.md): BBQ persona QA and the political instruments behind one
registry; ``run`` = ``run --instrument bbq`` byte for byte; the BBQ instrument renders exactly the
prompts a run asks and scores one answer vector with BBQ's own scores."""

from __future__ import annotations

import json

import numpy as np
import pytest

from socialbias.errors import InputError
from socialbias.eval import build_parser, main
from socialbias.instruments import Instrument, registry
from tests.conftest import BBQ_DIR

GRID = ["--bbq-dir", str(BBQ_DIR), "--categories", "Sexual_orientation", "--personas", "gay,straight",
        "--instructions", "0-1", "--limit", "12", "--n-boot", "50", "--quiet"]


def _responses(tmp_path):
    lines = [{"model": "recorded-model", "category": "Sexual_orientation", "example_id": e, "persona": p,
              "instruction": k, "choice": (e * 7 + k + len(p)) % 3}
             for e in range(12) for p in ("", "gay", "straight") for k in (0, 1)]
    path = tmp_path / "r.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    return path


def test_registry_resolves_every_instrument_and_refuses_others():
    assert registry.resolve(None).name == "bbq" and registry.resolve("bbq").name == "bbq"
    for name in ("8values", "sapplyvalues", "politiscales", "anthropic-persona-politics", "mine.json"):
        assert registry.resolve(name).name == "politics", name
    with pytest.raises(InputError) as err:
        registry.resolve("kobbq")  # a dataset, not an instrument
    assert "bbq" in str(err.value) and "8values" in str(err.value) and "--dataset" in str(err.value)
    with pytest.raises(InputError):
        registry.resolve("politics")  # a kind, not an instrument: name one
    for kind in registry.kinds().values():  # every front door has run and score
        doors = kind.front_doors()
        assert callable(doors.run) and callable(doors.score), kind.name


def test_help_lists_the_instruments():
    parser = build_parser()
    top = parser.format_help()
    run_help = parser._subparsers._group_actions[0].choices["run"].format_help()
    for text in (top, run_help):
        assert "bbq" in text and "8values" in text and "politiscales" in text


def test_run_instrument_bbq_is_the_default_run(tmp_path):
    responses = _responses(tmp_path)
    outs = {}
    for name, extra in (("default", []), ("bbq", ["--instrument", "bbq"])):
        outs[name] = tmp_path / name
        assert main(["run", "--backend", "replay", "--responses", str(responses), *GRID, *extra,
                     "--out", str(outs[name]), "--figures", "none"]) == 0
    for table in ("summary.csv", "target_bias.csv", "persona_bias.csv"):
        a, b = ((outs[n] / "results" / table).read_bytes() for n in ("default", "bbq"))
        assert a == b and len(a) > 100, table


def test_score_instrument_bbq_is_the_default_score(tmp_path):
    responses = _responses(tmp_path)
    outs = {}
    for name, extra in (("default", []), ("bbq", ["--instrument", "bbq"])):
        outs[name] = tmp_path / name
        assert main(["score", str(responses), "--bbq-dir", str(BBQ_DIR), "--n-boot", "50", "--quiet", "--no-report",
                     *extra, "--out", str(outs[name])]) == 0
    assert (outs["default"] / "summary.csv").read_bytes() == (outs["bbq"] / "summary.csv").read_bytes()
    # the instrument's figures part draws from that summary table
    from socialbias.instruments.bbq import load_instrument
    from socialbias.results import load_run

    inst = load_instrument("bbq", data_dir=BBQ_DIR, categories=["Sexual_orientation"], limit=12)
    paths = inst.figures(load_run(outs["bbq"]).summary, tmp_path / "figs")
    assert sorted(p.name for p in paths) == ["persona_bias.png", "tb_bamt_plane.png"]
    assert all(p.stat().st_size > 10_000 and p.with_suffix(".pdf").is_file() for p in paths)


def test_political_flags_are_refused_for_bbq(tmp_path, capsys):
    for flags in (["--variants", "rozado"], ["--runs", "2"], ["--instrument", "bbq", "--judge", "gpt"]):
        assert main(["run", "--backend", "replay", "--responses", str(tmp_path / "r.jsonl"), *GRID, *flags,
                     "--out", str(tmp_path / "x")]) == 2
        err = capsys.readouterr().err
        assert flags[-2] in err and "political" in err
    assert not (tmp_path / "x").exists()


@pytest.fixture(scope="module")
def bbq_instrument():
    from socialbias.instruments.bbq import load_instrument

    return load_instrument("bbq", data_dir=BBQ_DIR, categories=["Sexual_orientation"], limit=12)


def test_bbq_instrument_renders_the_prompts_a_run_asks(bbq_instrument):
    from socialbias.pipeline import RunConfig, study_inputs

    assert isinstance(bbq_instrument, Instrument) and bbq_instrument.options == ("A", "B", "C")
    assert len(bbq_instrument.items) == 12 and bbq_instrument.licence
    prompts = study_inputs(RunConfig(bbq_dir=str(BBQ_DIR), categories=["Sexual_orientation"], personas="gay,straight",
                                     instructions=[0, 1], limit=12)).prompts
    checked = 0
    for row in prompts.itertuples(index=False):
        item = next(i for i in bbq_instrument.items if i.id == str(row.item_id))
        variant = {"persona": row.persona, "instruction": int(row.instruction)}
        assert bbq_instrument.messages(item, variant) == list(row.messages)
        assert bbq_instrument.render(item, variant) == "".join(m["content"] for m in row.messages[1:])
        checked += 1
    assert checked == 12 * 3 * 2


def _biased_choices(table) -> np.ndarray:
    """The answer BBQ's bias score counts as biased: the stereotyped target on a negative question,
    the other (non-unknown) option on a non-negative one."""
    out = []
    for row in table.itertuples(index=False):
        other = next(k for k in range(3) if k not in (row.unknown_idx, row.stereotyped_idx))
        out.append(row.stereotyped_idx if row.polarity == "neg" else other)
    return np.array(out)


def test_bbq_instrument_scores_one_answer_vector(bbq_instrument):
    table = bbq_instrument.table
    assert (table["stereotyped_idx"] >= 0).all()
    # Always the stereotype: s_DIS = 1; in ambiguous contexts accuracy 0, so s_AMB = (1 - 0) x 1 = 1.
    biased = bbq_instrument.score(_biased_choices(table))
    assert biased["Sexual_orientation/disambig/s_dis"] == pytest.approx(1.0)
    assert biased["Sexual_orientation/ambig/s_amb"] == pytest.approx(1.0)
    assert biased["Sexual_orientation/ambig/acc"] == pytest.approx(0.0)
    # Always "unknown": right on every ambiguous item, wrong on every disambiguated one.
    unknown = bbq_instrument.score(table["unknown_idx"].to_numpy())
    assert unknown["Sexual_orientation/ambig/acc"] == 1.0 and unknown["Sexual_orientation/disambig/acc"] == 0.0
    assert list(biased) == list(bbq_instrument.axes)
    with pytest.raises(InputError):
        bbq_instrument.score(np.zeros(3, dtype=int))
    with pytest.raises(InputError):
        bbq_instrument.score(np.full(12, 5))


def test_both_instruments_keep_the_contract(bbq_instrument, tmp_path):
    from socialbias.instruments.politics import load_instrument as load_political
    from socialbias.instruments.politics.cli import score_instrument
    from tests.test_politics_compare import _answers

    political = load_political("sapplyvalues")
    for inst in (bbq_instrument, political):
        ids = [item.id for item in inst.items]
        assert len(ids) == len(set(ids)) > 0 and len(inst.options) >= 2 and inst.id and inst.licence
        first = inst.items[0]
        assert first.text.split("\n")[0] in inst.render(first)
        scores = inst.score(np.zeros(len(inst.items), dtype=int))
        assert set(inst.axes) <= set(scores), inst.id
    summary = score_instrument("sapplyvalues", str(_answers(tmp_path / "a.jsonl", political, "m", 1, 0)),
                               str(tmp_path / "scored"), n_boot=20)
    paths = political.figures(summary, tmp_path / "figs")
    assert sorted(p.name for p in paths) == ["axes.png", "compass.png"]
    assert all((tmp_path / "figs" / name).is_file() for name in ("axes.pdf", "compass.pdf"))


# A third kind, as a plug-in would register it (entry-point group socialbias.instruments): the
# registry finds it, --help lists it, and run/score reach its front doors (this module's run/score).
TOY = registry.InstrumentKind(name="toy", title="a toy questionnaire", ids="tests.test_instrument_seam:_toy_ids",
                              accepts="tests.test_instrument_seam:_toy_accepts",
                              load="tests.test_instrument_seam:_toy_ids", front="tests.test_instrument_seam")


def _toy_ids():
    return ["toy-a", "toy-b"]


def _toy_accepts(spec):
    return spec in _toy_ids()


def run(args, demo_model=None):
    print(f"toy run {args.instrument} -> {args.out}")
    return 0


def score(args):
    print(f"toy score {args.instrument} {args.path}")
    return 0


def test_a_registered_kind_is_listed_and_dispatched(monkeypatch, capsys):
    monkeypatch.setattr(registry, "_plugins", lambda: {"toy": TOY})
    assert "a toy questionnaire: toy-a, toy-b" in build_parser().format_help()
    assert main(["run", "--instrument", "toy-b", "--out", "somewhere"]) == 0
    assert main(["score", "--instrument", "toy-a", "answers.jsonl"]) == 0
    assert capsys.readouterr().out.splitlines() == ["toy run toy-b -> somewhere", "toy score toy-a answers.jsonl"]
    assert registry.resolve("bbq").name == "bbq"  # built-ins first
