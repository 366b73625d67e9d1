"""The persona catalogue, the instructions, and loaders for a user's own files."""

from __future__ import annotations

import csv

import pytest

from socialbias.errors import InputError
from socialbias.personas import CITATION, PAPER_DROPPED, load_instructions, load_personas


def test_paper_catalogue_matches_protocol(tmp_path):
    from tests.conftest import PROTOCOL_DIR

    table = load_personas()
    with open(PROTOCOL_DIR / "personas.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["Category"] != "Baseline"]
    assert len(table) == len(rows) == 134
    assert list(zip(table.persona, table.persona_category)) == [(r["Name"], r["Category"]) for r in rows]
    sizes = table.groupby("persona_category").size().to_dict()
    assert sizes["Age"] == 6 and sizes["Religion"] == 11 and sizes["Race_ethnicity"] == 16
    assert sizes["SES"] == 24 and sizes["Sexual_orientation"] == 5
    assert "" not in set(table.persona) and "Baseline" not in set(table.persona)
    assert "Shin" in CITATION and "2024" in CITATION


@pytest.mark.parametrize(
    "category, persona, member_of",
    [
        ("Age", "elder", "old"),
        ("Age", "kid", "nonOld"),
        ("SES", "janitor", "lowSES"),
        ("SES", "judge", "highSES"),
        ("Religion", "Muslim", "Muslim"),
        ("Sexual_orientation", "gay", "gay"),
        ("Race_ethnicity", "African American", "African American"),
        ("Nationality", "Japanese", "Japanese"),
        ("Gender_identity", "woman", "F"),
    ],
)
def test_membership_follows_target_rule(category, persona, member_of):
    table = load_personas(categories=[category])
    row = table[table.persona == persona].iloc[0]
    assert row.member_of == member_of


def test_membership_labels_are_real_targets(bbq_items):
    """Every persona of a local category belongs to a target label that occurs in the data."""
    personas = load_personas()
    for category, group in bbq_items.groupby("category"):
        labels = set(group[["target0", "target1", "target2"]].to_numpy().ravel())
        members = set(personas.loc[personas.persona_category == category, "member_of"])
        dropped = set(PAPER_DROPPED.get(category, ()))
        assert members - dropped <= labels, (category, members - labels)
        # The paper's dropped personas have no target of their own in BBQ (hence no edge to read).
        assert not dropped & labels


def test_filters():
    assert list(load_personas(names=["gay", "straight"]).persona) == ["gay", "straight"]
    with pytest.raises(InputError, match="unknown persona\\(s\\) 'Martian'"):
        load_personas(names=["Martian"])
    dropped = load_personas(categories=["Religion", "Race_ethnicity"], drop_paper_excluded=True)
    assert not {"Alaskan", "Orthodox"} & set(dropped.persona)
    assert set(PAPER_DROPPED) == {"Race_ethnicity", "Religion"}


def test_user_catalogue(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("category,name\nAge,grandparent\nReligion,Quaker\n")
    table = load_personas(path)
    assert list(table.persona) == ["grandparent", "Quaker"]
    assert list(table.member_of) == ["grandparent", "Quaker"]
    bad = tmp_path / "bad.csv"
    bad.write_text("Kind,Label\nAge,elder\n")
    with pytest.raises(InputError, match="lacks column\\(s\\) Category, Name"):
        load_personas(bad)
    dup = tmp_path / "dup.csv"
    dup.write_text("Category,Subcategory,Name\nAge,old,elder\nAge,old,elder\n")
    with pytest.raises(InputError, match="appears twice"):
        load_personas(dup)
    with pytest.raises(InputError, match="does not exist"):
        load_personas(tmp_path / "nope.csv")


def test_instructions(tmp_path):
    from tests.conftest import PROTOCOL_DIR

    paper = load_instructions()
    assert paper == (PROTOCOL_DIR / "persona_instructions.txt").read_text().strip().splitlines()
    assert len(paper) == 5 and all("{0}" in t for t in paper)
    txt = tmp_path / "i.txt"
    txt.write_text("Be {0}.\n\nAct as {0}, always.\n")
    assert load_instructions(txt) == ["Be {0}.", "Act as {0}, always."]
    csv_path = tmp_path / "i.csv"
    csv_path.write_text('instruction\n"You are {0}, truly."\n')
    assert load_instructions(csv_path) == ["You are {0}, truly."]
    no_slot = tmp_path / "bad.txt"
    no_slot.write_text("Be {0}.\nBe yourself.\n")
    with pytest.raises(InputError, match="line 2 has no '\\{0\\}'"):
        load_instructions(no_slot)
    stray = tmp_path / "stray.txt"
    stray.write_text("Be {0} {name}.\n")
    with pytest.raises(InputError, match="not a valid template"):
        load_instructions(stray)
