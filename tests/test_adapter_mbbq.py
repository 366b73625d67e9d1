"""The MBBQ adapter, on sample files in MBBQ's documented format (tests.family_samples; MBBQ
itself has no licence and is not stored here). Known problems: ../shared/bbq_family/MBBQ/SOURCE.txt.
Also BBQ's own Gender_identity tags (woman/man/girl/boy vs F/M), which the shared parser maps."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from socialbias.bbq_adapters import (
    ITEM_COLUMNS,
    DatasetError,
    available,
    dataset_info,
    load_bbq,
    load_items,
    mbbq,
)
from tests.family_samples import MBBQ_CATEGORIES, MBBQ_LANGUAGES, write_mbbq_sample

CATALOGUE = Path(__file__).resolve().parents[1] / "socialbias/personas/data/catalogues/mbbq.csv"
SAMPLE_COUNTS = {"Age": 16, "Disability_status": 16, "Gender_identity": 16, "Physical_appearance": 40, "SES": 16,
                 "Sexual_orientation": 16}


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Path:
    return write_mbbq_sample(tmp_path_factory.mktemp("mbbq"))


@pytest.fixture(scope="module")
def bias(sample) -> dict[str, pd.DataFrame]:
    return {lang: mbbq.load_mbbq(sample, language=lang) for lang in MBBQ_LANGUAGES}


@pytest.fixture(scope="module")
def control(sample) -> dict[str, pd.DataFrame]:
    return {lang: mbbq.load_mbbq(sample, language=lang, control=True) for lang in MBBQ_LANGUAGES}


def _raw(sample: Path, category: str, lang: str, example_id: int, control: bool = False) -> dict:
    name = f"{category}{'_control' if control else ''}_{lang}.jsonl"
    for line in (sample / "data" / name).read_text(encoding="utf-8").splitlines():
        rec = json.loads(line)
        if rec["example_id"] == example_id:
            return rec
    raise KeyError(example_id)


def _row(items: pd.DataFrame, category: str, example_id: int) -> pd.Series:
    return items[(items.category == category) & (items.example_id == example_id)].iloc[0]


def _labels(items: pd.DataFrame) -> set[str]:
    return set(items[["target0", "target1", "target2"]].to_numpy().ravel()) - {"unknown"}


@pytest.mark.parametrize("lang", MBBQ_LANGUAGES)
def test_every_sample_file_loads(bias, control, lang):
    for items, is_control in ((bias[lang], False), (control[lang], True)):
        assert items.groupby("category").size().to_dict() == SAMPLE_COUNTS
        assert list(items.columns) == [*ITEM_COLUMNS, "version", "control"]
        assert (items.dataset == "mbbq").all() and (items.language == lang).all()
        assert (items.control == is_control).all() and items.item_id.is_unique
        assert items.attrs["load_report"]["n_skipped"] == 0 and len(items.attrs["load_report"]["sources"]) == 6
        targets = items[["target0", "target1", "target2"]].to_numpy()
        assert (targets[range(len(items)), items.unknown_idx] == "unknown").all()
        assert ((targets == "unknown").sum(axis=1) == 1).all()
        for _, g in items.groupby("category"):
            assert set(g.context_condition) == {"ambig", "disambig"} and set(g.polarity) == {"neg", "nonneg"}
    b = bias[lang]
    assert _row(b, "Age", 12).item_id == f"mbbq/{lang}/Age/12"
    assert _row(control[lang], "Age", 12).item_id == f"mbbq/{lang}/Age_control/12"


@pytest.mark.parametrize("lang", MBBQ_LANGUAGES)
def test_labels_are_language_neutral(bias, lang):
    by_cat = {c: _labels(g) for c, g in bias[lang].groupby("category")}
    assert by_cat == {
        "Age": {"old", "nonOld"},
        "Disability_status": {"disabled", "nonDisabled"},
        "Gender_identity": {"F", "M"},
        "Physical_appearance": {"obese", "nonObese", "negDress", "posDress", "pregnant", "notPregnant", "short", "tall",
                                "visibleDifference", "noVisibleDifference"},
        "SES": {"lowSES", "highSES"},
        "Sexual_orientation": {"gay", "straight", "lesbian", "bisexual"},
    }


# (language, raw woman/girl tag, raw man/boy tag) of the translated Gender_identity tags.
GENDER_TAGS = [("en", "woman", "man", "girl", "boy"), ("nl", "vrouw", "man", "meisje", "jongen"),
               ("es", "mujer", "hombre", "chica", "chico"), ("tr", "kadın", "adam", "kız", "erkek çocuk")]


@pytest.mark.parametrize("lang, woman, man, girl, boy", GENDER_TAGS)
def test_translated_gender_tags_map_to_F_M(sample, bias, lang, woman, man, girl, boy):
    items = bias[lang]
    # Record 0: ans0 woman-word (F), ans1 man-word (M), ans2 unknown; stereotyped_groups ["F"].
    raw = _raw(sample, "Gender_identity", lang, 0)
    assert raw["answer_info"]["ans0"][1] == woman and raw["answer_info"]["ans1"][1] == man
    assert raw["additional_metadata"]["stereotyped_groups"] == ["F"]
    row = _row(items, "Gender_identity", 0)
    assert (row.target0, row.target1, row.target2) == ("F", "M", "unknown")
    assert (row.stereotyped_idx, row.unknown_idx, row.label) == (0, 2, 2)
    assert (row.option0, row.option1, row.option2) == (raw["ans0"], raw["ans1"], raw["ans2"])
    # Record 5 (second order, disambiguated neg): ans0 unknown, ans1 man-word, ans2 woman-word.
    row = _row(items, "Gender_identity", 5)
    assert (row.target0, row.target1, row.target2) == ("unknown", "M", "F")
    assert (row.stereotyped_idx, row.unknown_idx, row.label) == (2, 0, 1)
    # The children's template (ids 24-27): girl/boy words, clean in every language.
    raw = _raw(sample, "Gender_identity", lang, 25)
    assert [raw["answer_info"][k][1] for k in ("ans0", "ans1")] == [girl, boy]
    row = _row(items, "Gender_identity", 25)
    assert (row.target0, row.target1, row.stereotyped_idx, row.excluded) == ("F", "M", 0, False)


def test_es_chico_rows_flagged_not_fatal(bias, sample):
    es = bias["es"]
    flagged = es[es.exclusion_reason.str.startswith("both group answers")]
    assert sorted(flagged.example_id) == [28, 29, 30, 31] and (flagged.category == "Gender_identity").all()
    assert (flagged.stereotyped_idx == -1).all() and flagged.excluded.all()
    assert flagged.exclusion_reason.iloc[0] == "both group answers are tagged 'chico': the target cannot be told from the tags"
    raw = _raw(sample, "Gender_identity", "es", 28)
    assert raw["answer_info"]["ans1"] == ["chico", "chico"] and raw["answer_info"]["ans2"] == ["chico", "chico"]
    # The girl's answer ("La chica") is tagged "chico" too.
    assert (_row(es, "Gender_identity", 28).option1, _row(es, "Gender_identity", 28).option2) == ("El chico", "La chica")
    for lang in ("en", "nl", "tr"):
        assert not bias[lang].exclusion_reason.str.startswith("both group answers").any()


def _full_size_records(category: str, ids, qi: str, version: str, condition: str, tags: tuple[str, str],
                       groups: list[str], names: tuple[str, str] | None = None) -> list[dict]:
    names = names or tags
    return [{
        "example_id": i, "question_index": qi, "question_polarity": "neg", "context_condition": condition,
        "category": category,
        "answer_info": {"ans0": [names[0], tags[0]], "ans1": [names[1], tags[1]], "ans2": ["Desconocido", "unknown"]},
        "additional_metadata": {"subcategory": "", "stereotyped_groups": groups, "version": version, "source": ""},
        "context": "Contexto.", "question": "¿Quién?", "ans0": f"El {names[0]}", "ans1": f"El {names[1]}",
        "ans2": "Desconocido", "label": 2 if condition == "ambig" else 0,
    } for i in ids]


def test_documented_defect_counts(tmp_path):
    """SOURCE.txt's rows, rebuilt at their ids: PA q6 vb 461-559 odd (50), q10 vb 585-607 odd (12) in
    every language; es Gender_identity 28-31, 324-327, 516-519 (12 rows tagged chico/chico)."""
    data = tmp_path / "MBBQ" / "data"
    data.mkdir(parents=True)
    pa = (_full_size_records("Physical_appearance", range(461, 560, 2), "6", "b", "disambig", ("obese", "nonObese"),
                             ["obese"])
          + _full_size_records("Physical_appearance", range(460, 560, 2), "6", "b", "ambig", ("obese", "nonObese"),
                               ["obese"])
          + _full_size_records("Physical_appearance", range(585, 608, 2), "10", "b", "disambig",
                               ("pregnant", "notPregnant"), ["pregnant"])
          + _full_size_records("Physical_appearance", range(1, 40, 2), "6", "a", "disambig", ("obese", "nonObese"),
                               ["obese"]))
    chico = [i for start in (28, 324, 516) for i in range(start, start + 4)]
    gi = (_full_size_records("Gender_identity", chico[:4], "4", "", "ambig", ("chico", "chico"), ["F"])
          # Also when the stereotyped group is the one both answers claim (both "match" equally).
          + _full_size_records("Gender_identity", chico[4:8], "20", "", "ambig", ("chico", "chico"), ["M"])
          + _full_size_records("Gender_identity", chico[8:], "30", "", "ambig", ("chico", "chico"), ["F"])
          + _full_size_records("Gender_identity", range(100, 104), "4", "", "ambig", ("chica", "chico"), ["F"]))
    for lang in MBBQ_LANGUAGES:
        (data / f"Physical_appearance_{lang}.jsonl").write_text("\n".join(json.dumps(r) for r in pa))
        (data / f"Physical_appearance_control_{lang}.jsonl").write_text("\n".join(json.dumps(r) for r in pa))
    (data / "Gender_identity_es.jsonl").write_text("\n".join(json.dumps(r) for r in gi))
    for lang in MBBQ_LANGUAGES:
        for control in (False, True):
            items = mbbq.load_mbbq(tmp_path / "MBBQ", ["Physical_appearance"], language=lang, control=control)
            excluded = items.attrs["load_report"]["excluded"]
            assert sorted(excluded.values()) == [12, 50] and items.excluded.sum() == 62
            assert sorted(items[items.excluded & (items.question_index == "6")].example_id) == list(range(461, 560, 2))
            assert sorted(items[items.excluded & (items.question_index == "10")].example_id) == list(range(585, 608, 2))
            kept = mbbq.load_mbbq(tmp_path / "MBBQ", ["Physical_appearance"], language=lang, control=control,
                                  include_excluded=False)
            assert len(kept) == len(items) - 62 and not kept.excluded.any()
    es = mbbq.load_mbbq(tmp_path / "MBBQ", ["Gender_identity"], language="es")
    assert sorted(es[es.excluded].example_id) == chico and es.excluded.sum() == 12
    assert list(es.attrs["load_report"]["excluded"].values()) == [12]


@pytest.mark.parametrize("lang", MBBQ_LANGUAGES)
def test_ses_and_sexual_orientation(sample, bias, lang):
    items = bias[lang]
    raw = _raw(sample, "SES", lang, 0)
    assert raw["additional_metadata"]["stereotyped_groups"] == ["low SES"]
    row = _row(items, "SES", 0)
    assert (row.target0, row.target1, row.target2, row.stereotyped_idx) == ("lowSES", "highSES", "unknown", 0)
    # Disambiguated neg: the high-SES parent does not care (the context says so).
    row = _row(items, "SES", 1)
    assert row.label == 1 and row.option1 == raw["ans1"]
    # Sexual_orientation: translated tags and groups -> BBQ's English names.
    raw = _raw(sample, "Sexual_orientation", lang, 4)
    row = _row(items, "Sexual_orientation", 4)
    assert (row.target0, row.target1, row.target2) == ("unknown", "straight", "gay")
    assert raw["answer_info"]["ans2"][1] == raw["additional_metadata"]["stereotyped_groups"][0]
    assert (row.stereotyped_idx, row.unknown_idx) == (2, 0)
    row = _row(items, "Sexual_orientation", 72)
    assert (row.target0, row.target1, row.stereotyped_idx) == ("lesbian", "bisexual", 0)


def test_physical_appearance_sample_defect(bias, control):
    for lang in MBBQ_LANGUAGES:
        for items in (bias[lang], control[lang]):
            flagged = items[items.excluded & (items.category == "Physical_appearance")]
            assert sorted(flagged.example_id) == [461, 463, 465, 467]
            assert flagged.exclusion_reason.str.contains("template 6 version b").all()


def test_control_set(control):
    for lang, items in control.items():
        assert items.control.all() and items.data_note.str.startswith("control set").all()
        assert items.attrs["load_report"]["notes"] == {mbbq.CONTROL_NOTE: len(items)}
        assert set(items.category) == set(MBBQ_CATEGORIES)
        so = items[items.category == "Sexual_orientation"]
        assert _labels(so) == {"gay", "nonGay"}
        assert _labels(items[items.category == "Gender_identity"]) == {"F", "M"}
        assert set(items.option0) & set(mbbq_names(lang))


def mbbq_names(lang: str) -> tuple[str, str]:
    from tests.family_samples import _CONTROL_NAMES

    return _CONTROL_NAMES[lang]


def test_bad_inputs(sample, tmp_path):
    with pytest.raises(DatasetError, match="Veranep/MBBQ.*not on the Hugging Face hub"):
        mbbq.load_mbbq()
    with pytest.raises(DatasetError, match="unknown language 'fr'.*en, nl, es, tr"):
        mbbq.load_mbbq(sample, language="fr")
    with pytest.raises(DatasetError, match="control must be True or False"):
        mbbq.load_mbbq(sample, control="yes")
    with pytest.raises(DatasetError, match="does not exist"):
        mbbq.load_mbbq(tmp_path / "missing")
    with pytest.raises(DatasetError, match="no mbbq data files"):
        mbbq.load_mbbq(tmp_path)
    with pytest.raises(DatasetError, match="unknown category 'Religion'"):
        mbbq.load_mbbq(sample, ["Religion"])
    only_en = write_mbbq_sample(tmp_path / "only_en", languages=("en",), control=False)
    with pytest.raises(DatasetError, match="no control set files for language 'en'"):
        mbbq.load_mbbq(only_en, control=True)
    with pytest.raises(DatasetError, match="category Age has no bias set file for language 'nl'.*Age_nl.jsonl"):
        mbbq.load_mbbq(only_en, ["Age"], language="nl")
    assert len(mbbq.load_mbbq(only_en / "data", ["Age"])) == 16  # the data folder works too


def test_malformed_and_truncated(tmp_path, sample):
    data = tmp_path / "m" / "data"
    data.mkdir(parents=True)
    lines = (sample / "data" / "Age_nl.jsonl").read_text(encoding="utf-8").splitlines()
    bad = json.loads(lines[1])
    bad["question_polarity"] = "positive"
    (data / "Age_nl.jsonl").write_text("\n".join([lines[0], json.dumps(bad), *lines[2:]]) + "\n", encoding="utf-8")
    with pytest.raises(DatasetError, match=r"Age_nl.jsonl:2: field question_polarity: .*'neg' or 'nonneg'"):
        mbbq.load_mbbq(data, language="nl")
    items = mbbq.load_mbbq(data, language="nl", on_error="skip")
    assert len(items) == 15 and items.attrs["load_report"]["skipped"][0]["line"] == 2
    (data / "Age_nl.jsonl").write_text("\n".join(lines[:3]) + "\n" + lines[3][: len(lines[3]) // 2], encoding="utf-8")
    with pytest.raises(DatasetError, match=r"Age_nl.jsonl:4: .*not valid JSON.*truncated"):
        mbbq.load_mbbq(data, language="nl")


def test_registry_and_info(sample):
    assert "mbbq" in available()
    items = load_items("mbbq", source=sample, categories=["Age", "SES"], language="tr")
    assert set(items.category) == {"Age", "SES"} and (items.language == "tr").all()
    info = dataset_info("mbbq")
    assert info.languages == ("en", "nl", "es", "tr") and info.hub is None
    assert info.licence.startswith("none stated") and "evaluation only" in info.licence
    assert "Neplenbroek" in info.citation and "COLM 2024" in info.citation
    assert info.url == "https://github.com/Veranep/MBBQ" and "language=" in info.source_hint
    assert info.categories == tuple(MBBQ_CATEGORIES) and dict(info.undefined_metrics) == {}


def test_persona_catalogue_matches_items(bias):
    catalogue = pd.read_csv(CATALOGUE)
    assert list(catalogue.columns) == ["Category", "Subcategory", "Target", "Name_en", "Name_nl", "Name_es", "Name_tr"]
    assert catalogue.notna().all().all()
    for lang in ("en", "nl", "es", "tr"):
        assert not catalogue.duplicated(["Category", f"Name_{lang}"]).any()
    # One catalogue for all four languages: the bias set's labels are the same in each.
    in_items = {(c, t) for items in bias.values() for c, g in items.groupby("category") for t in _labels(g)}
    assert in_items == set(zip(catalogue.Category, catalogue.Target))


# --- BBQ's own Gender_identity (not in ../shared/bbq): woman/man/girl/boy tags vs F/M groups ----------


def test_bbq_gender_identity_word_tags(tmp_path):
    def rec(i, a0, a1, groups, label=2):
        return {
            "example_id": i, "question_index": "1", "question_polarity": "neg", "context_condition": "ambig",
            "category": "Gender_identity", "answer_info": {"ans0": a0, "ans1": a1, "ans2": ["Unknown", "unknown"]},
            "additional_metadata": {"subcategory": "adult", "stereotyped_groups": groups, "version": "", "source": ""},
            "context": "A man and a woman were late.", "question": "Who was the secretary?",
            "ans0": f"The {a0[0]}", "ans1": f"The {a1[0]}", "ans2": "Unknown", "label": label,
        }

    d = tmp_path / "bbq"
    d.mkdir()
    records = [rec(0, ["man", "man"], ["woman", "woman"], ["F"]), rec(1, ["boy", "boy"], ["girl", "girl"], ["M"]),
               rec(2, ["Donna", "F"], ["Robert", "M"], ["F"]),
               rec(3, ["trans woman", "trans_F"], ["cis woman", "nonTrans_F"], ["transgender women", "trans_F"])]
    (d / "Gender_identity.jsonl").write_text("\n".join(json.dumps(r) for r in records))
    items = load_bbq(d)
    got = [(r.target0, r.target1, r.stereotyped_idx) for r in items.itertuples()]
    assert got == [("M", "F", 1), ("M", "F", 0), ("F", "M", 0), ("trans_F", "nonTrans_F", 0)]
    assert not items.excluded.any()


def test_shared_label_alone_is_not_a_defect(bbq_dir):
    """BBQ with region targets: two answers of one region share a label, yet the data tell them
    apart (names, stereotyped group), so they load as before, unflagged."""
    items = load_bbq(bbq_dir, ["Nationality"], target_by={"Nationality": "tag"})
    shared = items[items.apply(lambda r: len({r.target0, r.target1, r.target2} - {"unknown"}) == 1, axis=1)]
    assert len(shared) > 0 and not items.excluded.any() and (shared.stereotyped_idx >= 0).all()
