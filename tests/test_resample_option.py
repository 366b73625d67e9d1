"""``--resample templates|items`` on ``score`` and ``run``: the bootstrap's unit is a setting of
the statistics group, recorded with the results, and a wrong value is one clear error."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from socialbias.errors import InputError
from socialbias.eval import build_parser, main
from socialbias.pipeline import CONFIG_GROUPS, RunConfig
from socialbias.validation import check_run
from tests.conftest import BBQ_DIR


def _responses(tmp_path):
    lines = [{"model": "m", "category": "Sexual_orientation", "example_id": example_id, "persona": persona,
              "instruction": k, "choice": (example_id * 7 + k + len(persona)) % 3}
             for persona in ("", "gay") for k in range(2) for example_id in range(0, 96)]
    path = tmp_path / "r.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    return path


def test_score_resamples_templates_by_default_and_items_on_request(tmp_path):
    path = _responses(tmp_path)
    tables = {}
    for unit in ("default", "items"):
        out = tmp_path / unit
        extra = [] if unit == "default" else ["--resample", unit]
        code = main(["score", str(path), "--bbq-dir", str(BBQ_DIR), "--out", str(out), "--n-boot", "60",
                     "--quiet", "--no-report", *extra])
        assert code == 0
        record = json.loads((out / "score.json").read_text())
        assert record["settings"]["resample"] == ("templates" if unit == "default" else "items")
        tables[unit] = pd.read_csv(out / "summary.csv").set_index("context_condition")
    # a template holds several items: fewer clusters, and other (here wider) intervals
    assert (tables["default"].n_clusters < tables["items"].n_clusters).all()
    assert (tables["items"].n_clusters == tables["items"].n_items).all()
    width = {u: (t.acc_hi - t.acc_lo) for u, t in tables.items()}
    assert not width["default"].equals(width["items"])


def test_bad_resample_unit_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["score", str(_responses(tmp_path)), "--resample", "persons"])
    assert exc.value.code == 2 and "--resample" in capsys.readouterr().err
    with pytest.raises(InputError, match="--resample 'persons'"):
        check_run(RunConfig(resample="persons"))


def test_run_takes_resample_in_the_statistics_group():
    assert "resample" in CONFIG_GROUPS["statistics"]
    args = build_parser().parse_args(["run", "--resample", "items"])
    assert args.resample == "items"
    assert RunConfig().resample == "templates"


def test_a_stratum_from_one_template_claims_no_interval_and_no_confidence(tmp_path):
    """Items 0-11 of Sexual_orientation come from one template: resampling templates has one
    cluster, every replicate equals the estimate, and a zero-width interval with a type confidence
    of 1 would claim certainty from one template. Such a stratum reports neither; resampling
    items (12 clusters) still gives both."""
    lines = [{"model": "m", "category": "Sexual_orientation", "example_id": example_id, "persona": persona,
              "instruction": k, "choice": (example_id * 7 + k + len(persona)) % 3}
             for persona in ("", "gay") for k in range(2) for example_id in range(0, 12)]
    path = tmp_path / "one.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    tables = {}
    for unit in ("templates", "items"):
        out = tmp_path / unit
        assert main(["score", str(path), "--bbq-dir", str(BBQ_DIR), "--out", str(out), "--n-boot", "60",
                     "--quiet", "--no-report", "--resample", unit]) == 0
        tables[unit] = pd.read_csv(out / "summary.csv")
    one = tables["templates"]
    assert (one.n_clusters == 1).all()
    for name in ("TB", "BAmt", "PB", "acc"):
        assert one[name].notna().all() and one[[name + "_lo", name + "_hi"]].isna().all().all(), name
    assert one.type_confidence.isna().all()
    many = tables["items"]
    assert (many.n_clusters > 1).all() and many.TB_hi.notna().all() and many.type_confidence.notna().all()
