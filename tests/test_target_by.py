"""``--dataset-option target_by=...`` (issue 14 item 10): works where documented, refused elsewhere."""

from __future__ import annotations

import pandas as pd
import pytest

from socialbias.bbq_adapters import DatasetError
from socialbias.bbq_adapters.bbq import CATEGORIES, target_rules
from socialbias.eval import main
from tests.conftest import BBQ_DIR

REGIONS = {"Europe", "AsiaPacific", "MiddleEast", "LatinSouthAmerica", "NorthAmerica", "Africa", "ArabStates"}


def test_target_rules_reads_the_command_line_text_and_mappings():
    assert target_rules("Nationality:tag") == {"Nationality": "tag"}
    assert target_rules("Nationality:tag, Religion:tag") == {"Nationality": "tag", "Religion": "tag"}
    assert target_rules("name") == {c: "name" for c in CATEGORIES}
    assert target_rules({"Nationality": "tag"}) == {"Nationality": "tag"}
    assert target_rules(None) == {}
    for bad in ("Nationality:region", "Nation:tag", "", 3):
        with pytest.raises(DatasetError, match="target_by"):
            target_rules(bad)


def test_cli_target_by_tag_gives_region_targets(tmp_path):
    out = tmp_path / "prompts.parquet"
    code = main(["prompts", "--bbq-dir", str(BBQ_DIR), "--categories", "Nationality", "--limit", "40",
                 "--personas", "Japanese", "--instructions", "0", "--dataset-option", "target_by=Nationality:tag",
                 "--out", str(out)])
    assert code == 0
    from socialbias.bbq_adapters import load_items

    items = load_items("bbq", source=BBQ_DIR, categories=["Nationality"], target_by="Nationality:tag")
    assert set(items[["target0", "target1", "target2"]].to_numpy().ravel()) - {"unknown"} <= REGIONS
    assert len(pd.read_parquet(out)) > 0


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--dataset-option", "target_by=Nationality:region"], "neither 'name' nor 'tag'"),
        (["--dataset-option", "target_by=Nation:tag"], "unknown BBQ category 'Nation'"),
        (["--dataset", "mbbq", "--dataset-option", "target_by=Nationality:tag"], "has no option 'target_by'"),
    ],
)
def test_cli_refuses_bad_target_by_with_exit_2(tmp_path, capsys, args, needle):
    out = tmp_path / "prompts.parquet"
    code = main(["prompts", "--bbq-dir", str(BBQ_DIR), "--categories", "Nationality", "--limit", "2", *args,
                 "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and needle in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_paper_result_records_take_target_by_and_refuse_other_options():
    from socialbias.errors import InputError
    from socialbias.scoring import _record_options

    assert _record_options({"target_by": "Nationality:tag"}) == {"target_by": "Nationality:tag"}
    with pytest.raises(InputError, match="--dataset-option language .*--bbq-dir"):
        _record_options({"language": "nl", "target_by": "Nationality:tag"})
