"""The EsBBQ/CaBBQ adapters: every local file, targets by tag, the generator's swapped tags,
option reordering and the unknown wording, hub format, validation, the persona catalogues.

Counts and defects: ../shared/bbq_family/EsBBQ-CaBBQ/SOURCE.txt.
"""

from __future__ import annotations

import ast
import csv
import gzip
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from socialbias.bbq_adapters import ITEM_COLUMNS, DatasetError, available, dataset_info, load_items
from socialbias.bbq_adapters import esbbq as mod
from socialbias.bbq_adapters.esbbq import load_cabbq, load_esbbq
from tests.conftest import FAMILY_DIR

ROOT = FAMILY_DIR / "EsBBQ-CaBBQ"
LANG = {"esbbq": "es", "cabbq": "ca"}
LOADERS = {"esbbq": load_esbbq, "cabbq": load_cabbq}

# SOURCE.txt: rows (ambig, disambig) per upstream category.
COUNTS = {
    "esbbq": {
        "Age": (1292, 2776), "Disability_status": (928, 1904), "Gender_identity": (1504, 3328),
        "LGBTQIA": (576, 1424), "Nationality": (168, 336), "Physical_appearance": (1176, 2352),
        "Race_ethnicity": (1228, 2488), "Religion": (216, 432), "SES": (1380, 2824), "Spanish_region": (324, 664),
    },
}
COUNTS["cabbq"] = {**COUNTS["esbbq"], "Physical_appearance": (1184, 2368)}
TOTALS = {"esbbq": 27320, "cabbq": 27344}

# The generator's swapped answer_info (targets follow the texts) and question_type contradictions.
SWAPPED = {"esbbq": [1090, 1091, 1098, 1099],
           "cabbq": [1090, 1091, 1098, 1099, 3488, 3489, 3496, 3497, 3536, 3537, 3544, 3545]}
QTYPE = {"esbbq": [1061, 1077, 1091, 1099],
         "cabbq": [1061, 1077, 1091, 1099, 3457, 3473, 3489, 3497, 3505, 3521, 3537, 3545]}


def _skip_without_data():
    if not ROOT.is_dir():
        pytest.fail(f"the EsBBQ/CaBBQ data are expected at {ROOT}")


@pytest.fixture(scope="module")
def items():
    _skip_without_data()
    return {name: LOADERS[name](ROOT) for name in LOADERS}


@pytest.fixture(scope="module")
def items_source():
    _skip_without_data()
    return {name: LOADERS[name](ROOT, order="source") for name in LOADERS}


def _raw_path(lang: str, source_category: str) -> Path:
    d = ROOT / f"data_{lang}"
    return next(p for p in (d / f"{source_category}.full.csv", d / f"{source_category}.full.csv.gz") if p.is_file())


def raw_rows(lang: str, source_category: str) -> list[dict]:
    """The raw CSV rows, read here independently of the adapter."""
    path = _raw_path(lang, source_category)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def raw_row(lang: str, source_category: str, instance_id: int) -> dict:
    return next(r for r in raw_rows(lang, source_category) if int(r["instance_id"]) == instance_id)


def hub_record(raw: dict) -> dict:
    """A raw CSV row in the hub's parquet format (nested answer_info, real lists/ints/bools)."""
    rec = {k: v for k, v in raw.items() if not k.startswith("answer_info.")}
    rec.update(
        instance_id=int(raw["instance_id"]), template_id=int(raw["template_id"]), label=int(raw["label"]),
        proper_nouns_only=raw["proper_nouns_only"] == "True",
        stereotyped_groups=ast.literal_eval(raw["stereotyped_groups"]), source=ast.literal_eval(raw["source"]),
        answer_info={f"ans{k}": ast.literal_eval(raw[f"answer_info.ans{k}"]) for k in range(3)},
    )
    return rec


def _row(table, category, example_id):
    hit = table[(table.category == category) & (table.example_id == example_id)]
    assert len(hit) == 1, (category, example_id)
    return hit.iloc[0]


# --- every local record ------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["esbbq", "cabbq"])
def test_every_local_file_loads(items, name):
    t = items[name]
    assert len(t) == TOTALS[name]
    sizes = t.groupby(["category", "context_condition"]).size().unstack()
    assert {c: (int(r.ambig), int(r.disambig)) for c, r in sizes.iterrows()} == COUNTS[name]
    assert list(t.columns) == [*ITEM_COLUMNS, "version", "subcategory", "source_category"]
    assert t["item_id"].is_unique and (t["dataset"] == name).all() and (t["language"] == LANG[name]).all()
    assert t["item_id"].iloc[0] == f"{name}/Age/0"
    report = t.attrs["load_report"]
    assert report["n_records"] == TOTALS[name] and report["n_skipped"] == 0 and report["n_excluded"] == 0
    assert report["ambiguous_stereotype"] == 0 and len(report["sources"]) == 10
    # one unknown option per item, where unknown_idx says, worded in the item's language
    targets = t[["target0", "target1", "target2"]].to_numpy()
    options = t[["option0", "option1", "option2"]].to_numpy()
    rows = np.arange(len(t))
    assert ((targets == "unknown").sum(axis=1) == 1).all()
    assert (targets[rows, t["unknown_idx"]] == "unknown").all()
    assert (options[rows, t["unknown_idx"]] == mod.DEFAULT_UNKNOWN[LANG[name]]).all()
    assert not (options == "unknown").any()
    st = t["stereotyped_idx"].to_numpy()
    assert ((st >= 0) & (st <= 2) & (st != t["unknown_idx"])).all()
    ambig = t["context_condition"] == "ambig"
    assert (t.loc[ambig, "label"] == t.loc[ambig, "unknown_idx"]).all()
    assert (t.loc[~ambig, "label"] != t.loc[~ambig, "unknown_idx"]).all()
    # example ids are upstream's instance ids 0..n-1 per category
    for cat, g in t.groupby("category"):
        assert sorted(g.example_id) == list(range(len(g))), cat
    text = t[["context", "question", "option0", "option1", "option2"]].to_numpy().ravel()
    assert not any(re.search(r"\{\{|NAME[12]", s) for s in text)


# --- targets, stereotyped option, label, unknown on hand-picked records -----------------------

HAND_PICKED = [
    # dataset, category, instance_id, targets (file order), stereotyped_idx (file order), label text
    ("esbbq", "Age", 1, ("old", "nonOld", "unknown"), 0, "El nieto"),
    ("esbbq", "Age", 0, ("old", "nonOld", "unknown"), 0, "No se puede determinar"),
    ("esbbq", "Age", 961, ("nonOld", "old", "unknown"), 0, "El padre anciano"),  # stereotyped_groups ['nonOld']
    ("esbbq", "Disability_status", 3, ("disability", "noDisability", "unknown"), 0, "El hombre con una discapacidad física"),
    ("esbbq", "Gender_identity", 3, ("F", "M", "unknown"), 0, "El hombre"),
    ("esbbq", "Gender_identity", 301, ("M", "F", "unknown"), 0, "El hombre"),
    ("esbbq", "LGBTQIA", 3, ("gay", "heterosexual", "unknown"), 0, "El hombre hetero"),  # tag 'hetero' merged
    ("esbbq", "LGBTQIA", 529, ("no binaria", "cis", "unknown"), 0, "La persona cis"),
    ("esbbq", "Nationality", 3, ("el Reino Unido", "España", "unknown"), 0, "Mi amigo de España"),
    ("esbbq", "Physical_appearance", 3, ("obese", "nonObese", "unknown"), 0, "El chico gordo"),
    # template 10: ans0 holds the NON-stereotyped answer; question_type (pro-stereo) is wrong here
    ("esbbq", "Physical_appearance", 1061, ("notPregnant", "pregnant", "unknown"), 1,
     "La empleada que no estaba embarazada"),
    # answer_info crossed with the texts: targets follow the texts
    ("esbbq", "Physical_appearance", 1090, ("pregnant", "notPregnant", "unknown"), 0, "La embarazada"),
    ("esbbq", "Race_ethnicity", 3, ("de Europa del Este", "blanco", "unknown"), 0, "El hombre de Europa del Este"),
    ("esbbq", "Race_ethnicity", 61, ("árabe", "blanco", "unknown"), 0, "Antonio"),  # tag 'm, árabe'
    ("esbbq", "Religion", 3, ("musulmán", "católico", "unknown"), 0, "La persona católica"),
    ("esbbq", "SES", 3, ("lowSES", "highSES", "unknown"), 0, "La gente rica"),
    ("esbbq", "Spanish_region", 3, ("Cataluña", "Madrid", "unknown"), 0, "Mi amigo de Madrid"),
    ("cabbq", "Age", 3, ("old", "nonOld", "unknown"), 0, "L'avi"),
    ("cabbq", "Disability_status", 3, ("disability", "noDisability", "unknown"), 0, "L'home amb una discapacitat física"),
    ("cabbq", "Gender_identity", 3, ("F", "M", "unknown"), 0, "L'home"),
    ("cabbq", "LGBTQIA", 5, ("gai", "heterosexual", "unknown"), 0, "L'home gai"),
    ("cabbq", "Nationality", 3, ("el Regne Unit", "Espanya", "unknown"), 0, "El meu amic d'Espanya"),
    ("cabbq", "Physical_appearance", 3457, ("noGlasses", "glasses", "unknown"), 1, "L'amic que no portava ulleres"),
    ("cabbq", "Physical_appearance", 3488, ("glasses", "noGlasses", "unknown"), 0, "L'amic que portava ulleres"),
    ("cabbq", "Race_ethnicity", 421, ("àrab", "blanc", "unknown"), 0, "La Carme"),  # tag 'f, àrab'
    ("cabbq", "Religion", 3, ("musulmà", "catòlic", "unknown"), 0, "La persona catòlica"),
    ("cabbq", "SES", 3, ("lowSES", "highSES", "unknown"), 0, "La gent rica"),
    ("cabbq", "Spanish_region", 3, ("Catalunya", "Madrid", "unknown"), 0, "El meu amic de Madrid"),
]


@pytest.mark.parametrize("name, category, iid, targets, stereotyped, label_text", HAND_PICKED)
def test_hand_picked(items, items_source, name, category, iid, targets, stereotyped, label_text):
    raw = raw_row(LANG[name], mod._TO_SOURCE[category], iid)
    row = _row(items_source[name], category, iid)
    assert (row.option0, row.option1) == (raw["ans0"], raw["ans1"]) and raw["ans2"] == "unknown"
    assert row.option2 == mod.DEFAULT_UNKNOWN[LANG[name]]
    assert (row.context, row.question) == (raw["context"], raw["question"])
    assert (row.polarity, row.context_condition) == (raw["question_polarity"], raw["context_condition"])
    assert (row.target0, row.target1, row.target2) == targets
    assert (row.stereotyped_idx, row.unknown_idx) == (stereotyped, 2)
    assert row[f"option{row.label}"] == label_text and row.label == int(raw["label"])
    assert row.question_index == raw["template_id"] and row.source_category == raw["category"]
    # the stereotyped option's tag is in stereotyped_groups
    groups = ast.literal_eval(raw["stereotyped_groups"])
    tag_of = {ast.literal_eval(raw[f"answer_info.ans{k}"])[0].lower(): ast.literal_eval(raw[f"answer_info.ans{k}"])[1]
              for k in range(2)}
    st_text = row[f"option{row.stereotyped_idx}"].lower()
    tag = tag_of[max((n for n in tag_of if n in st_text), key=len)]
    assert tag.split(",")[-1].strip() in groups
    # the shuffled table points at the same texts
    shuffled = _row(items[name], category, iid)
    for key in ("label", "stereotyped_idx", "unknown_idx"):
        assert shuffled[f"option{shuffled[key]}"] == row[f"option{row[key]}"]
    assert {(shuffled[f"option{k}"], shuffled[f"target{k}"]) for k in range(3)} == {
        (row[f"option{k}"], row[f"target{k}"]) for k in range(3)}


def test_stereotyped_option_not_first(items_source):
    """PhysicalAppearance template 10 (both) and 32 (ca): ans0 holds the NON-stereotyped answer in
    12 es / 36 ca rows (SOURCE.txt); the tag rule finds the stereotyped option wherever it is."""
    for name, n_raw, templates in (("esbbq", 12, {"10"}), ("cabbq", 36, {"10", "32"})):
        raw = raw_rows(LANG[name], "PhysicalAppearance")
        odd_raw = [r for r in raw if ast.literal_eval(r["answer_info.ans0"])[1]
                   not in ast.literal_eval(r["stereotyped_groups"])]
        assert len(odd_raw) == n_raw and {r["template_id"] for r in odd_raw} == templates
        t = items_source[name]
        odd = t[t.example_id.isin([int(r["instance_id"]) for r in odd_raw]) & (t.category == "Physical_appearance")]
        st_targets = odd.apply(lambda r: r[f"target{r.stereotyped_idx}"], axis=1)
        assert set(st_targets) == ({"pregnant"} if name == "esbbq" else {"pregnant", "glasses"})
        # in file order the stereotyped answer is second, except the swapped rows (text order differs)
        assert set(odd[odd.stereotyped_idx == 0].example_id) == set(SWAPPED[name])
        assert (odd[odd.stereotyped_idx != 0].stereotyped_idx == 1).all()
        rest = t[~t.item_id.isin(odd.item_id)]
        assert (rest.stereotyped_idx == 0).all()


# --- known defects -----------------------------------------------------------------------------


def _disambig_answer(lang: str, row) -> str:
    """The answer the context states, for PhysicalAppearance templates 10 and 32 (read here from the text)."""
    if row.question_index == "10":
        pat = r"en realidad (la )(.+?) era la única que trabajaba" if lang == "es" else r"en realitat (la |l')(.+?) era l'única que treballava"
        m = re.search(pat, row.context)
        working = m.group(1).capitalize() + m.group(2)
        named = [row[f"option{k}"] for k in range(3) if row[f"target{k}"] != "unknown"]
        return working if row.polarity == "nonneg" else next(o for o in named if o != working)
    if lang == "es":
        m = re.search(r"(al amigo|a la amiga) que (.+?) más de una vez", row.context)
        ugly = {"al amigo": "El amigo", "a la amiga": "La amiga"}[m.group(1)] + f" que {m.group(2)}"
    else:
        m = re.search(r"a l'(amic|amiga) que (.+?) més d'un cop", row.context)
        ugly = f"L'{m.group(1)} que {m.group(2)}"
    named = [row[f"option{k}"] for k in range(3) if row[f"target{k}"] != "unknown"]
    return ugly if row.polarity == "neg" else next(o for o in named if o != ugly)


@pytest.mark.parametrize("name", ["esbbq", "cabbq"])
def test_known_defects_noted_not_excluded(items, name):
    t = items[name]
    report = t.attrs["load_report"]
    assert report["notes"] == {mod.NOTE_SWAPPED: len(SWAPPED[name]), mod.NOTE_QUESTION_TYPE: len(QTYPE[name])}
    assert len(SWAPPED[name]) == len(QTYPE[name]) == {"esbbq": 4, "cabbq": 12}[name]  # SOURCE.txt: 4 es / 12 ca
    noted = t[t.data_note != ""]
    assert (noted.category == "Physical_appearance").all() and not t.excluded.any()
    assert sorted(noted[noted.data_note.str.contains("describe the other answer")].example_id) == SWAPPED[name]
    assert sorted(noted[noted.data_note.str.contains("question_type")].example_id) == QTYPE[name]
    assert (noted.context_condition == "disambig").all()
    # the labels of all these template rows agree with the context (checked from the text here)
    pa = t[(t.category == "Physical_appearance") & t.question_index.isin(["10", "32"]) & (t.context_condition == "disambig")]
    assert len(pa) == 96
    for _, row in pa.iterrows():
        assert row[f"option{row.label}"] == _disambig_answer(LANG[name], row), row.example_id
    # the swapped rows: the stereotyped option is the one naming the stereotyped group (by text)
    for _, row in t[t.example_id.isin(SWAPPED[name]) & (t.category == "Physical_appearance")].iterrows():
        text = row[f"option{row.stereotyped_idx}"]
        assert ("no" not in text.split()) and (row[f"target{row.stereotyped_idx}"] in ("pregnant", "glasses"))
    # nothing is excluded, so include_excluded=False keeps every item
    kept = LOADERS[name](ROOT, ["PhysicalAppearance"], include_excluded=False)
    assert len(kept) == sum(COUNTS[name]["Physical_appearance"])


# --- option order and the unknown wording --------------------------------------------------------


def test_order_is_seeded_and_keeps_answers(items, items_source):
    for name in LOADERS:
        a, src = items[name], items_source[name]
        assert (a.item_id == src.item_id).all()
        opts_a = a[["option0", "option1", "option2"]].to_numpy()
        opts_s = src[["option0", "option1", "option2"]].to_numpy()
        tg_a = a[["target0", "target1", "target2"]].to_numpy()
        tg_s = src[["target0", "target1", "target2"]].to_numpy()
        rows = np.arange(len(a))
        for key in ("label", "unknown_idx", "stereotyped_idx"):
            assert (opts_a[rows, a[key]] == opts_s[rows, src[key]]).all(), key
        assert (np.sort(opts_a, axis=1) == np.sort(opts_s, axis=1)).all()
        pairs_a = {(i, o, g) for i, (os, gs) in enumerate(zip(opts_a, tg_a)) for o, g in zip(os, gs)}
        pairs_s = {(i, o, g) for i, (os, gs) in enumerate(zip(opts_s, tg_s)) for o, g in zip(os, gs)}
        assert pairs_a == pairs_s
        # all positions occur, about equally often
        for key in ("unknown_idx", "label", "stereotyped_idx"):
            shares = a[key].value_counts(normalize=True)
            assert set(shares.index) == {0, 1, 2} and shares.min() > 0.3, (name, key)
        # source order is the file order: stereotyped answer (mostly) first, unknown last
        assert (src.unknown_idx == 2).all()
    raw = raw_rows("es", "Religion")
    src = items_source["esbbq"][items_source["esbbq"].category == "Religion"].sort_values("example_id")
    assert list(src.option0) == [r["ans0"] for r in sorted(raw, key=lambda r: int(r["instance_id"]))]
    assert list(src.label) == [int(r["label"]) for r in sorted(raw, key=lambda r: int(r["instance_id"]))]


def test_seed_reproducible_and_different(items):
    same = load_esbbq(ROOT, ["Religion"], seed=0)
    base = items["esbbq"][items["esbbq"].category == "Religion"].reset_index(drop=True)
    pd.testing.assert_frame_equal(same, base)
    other = load_esbbq(ROOT, ["Religion"], seed=1)
    assert (other.item_id == base.item_id).all() and (other.label == base.label).mean() < 0.6
    assert not other[["option0", "option1", "option2"]].equals(base[["option0", "option1", "option2"]])
    with pytest.raises(DatasetError, match="order must be one of shuffle, source"):
        load_esbbq(ROOT, ["Religion"], order="rotate")
    with pytest.raises(DatasetError, match="seed must be an integer"):
        load_esbbq(ROOT, ["Religion"], seed="x")


def test_unknown_wording(items):
    t = load_cabbq(ROOT, ["Religion"], unknown_wording="Ningú ho sap", order="source")
    assert (t.option2 == "Ningú ho sap").all()
    words = mod.UNKNOWN_WORDINGS["es"]
    t = load_esbbq(ROOT, ["Religion"], unknown_wording=list(words))
    used = t.apply(lambda r: r[f"option{r.unknown_idx}"], axis=1)
    assert set(used) <= set(words) and len(set(used)) == len(words)
    pd.testing.assert_frame_equal(t, load_esbbq(ROOT, ["Religion"], unknown_wording=list(words)))
    assert mod.DEFAULT_UNKNOWN == {"es": "No se puede determinar", "ca": "No es pot determinar"}
    assert mod.DEFAULT_UNKNOWN["es"] in mod.UNKNOWN_WORDINGS["es"] and mod.DEFAULT_UNKNOWN["ca"] in mod.UNKNOWN_WORDINGS["ca"]
    for bad in ("", [], [""], 3):
        with pytest.raises(DatasetError, match="unknown_wording"):
            load_esbbq(ROOT, ["Religion"], unknown_wording=bad)


# --- categories, sources -------------------------------------------------------------------------


def test_categories_both_spellings_and_folders(items):
    a = load_esbbq(ROOT, ["Disability_status", "SpanishRegion"])
    assert set(a.category) == {"Disability_status", "Spanish_region"}
    assert set(a.source_category) == {"DisabilityStatus", "SpanishRegion"}
    b = load_esbbq(ROOT / "data_es", ["DisabilityStatus", "Spanish_region"])  # the data folder itself
    pd.testing.assert_frame_equal(a, b)
    full = items["esbbq"]
    pd.testing.assert_frame_equal(a, full[full.category.isin(["Disability_status", "Spanish_region"])].reset_index(drop=True))
    lgbt = full[full.category == "LGBTQIA"]
    assert set(lgbt.subcategory) == {"SexualOrientation", "GenderIdentity"}


def test_jsonl_twin_and_gzip(tmp_path, items):
    """A folder holding only the .full.jsonl twin (nested answer_info) or a gzipped CSV reads the same."""
    d = tmp_path / "data_es"
    d.mkdir()
    raw = raw_rows("es", "Religion")
    with open(d / "Religion.full.jsonl", "w", encoding="utf-8") as fh:
        fh.writelines(json.dumps(hub_record(r), ensure_ascii=False) + "\n" for r in raw)
    shutil.copy(_raw_path("es", "Nationality"), d / "Nationality.full.csv")
    with open(_raw_path("es", "Nationality"), "rb") as src, gzip.open(tmp_path / "x.gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    got = load_esbbq(tmp_path, ["Religion", "Nationality"])
    full = items["esbbq"]
    want = full[full.category.isin(["Religion", "Nationality"])].reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want)
    (d / "Nationality.full.csv").unlink()
    shutil.move(tmp_path / "x.gz", d / "Nationality.full.csv.gz")
    pd.testing.assert_frame_equal(load_esbbq(d, ["Nationality"]), want[want.category == "Nationality"].reset_index(drop=True))
    assert set(load_esbbq(d).category) == {"Religion", "Nationality"}  # every category present


# --- the hub -------------------------------------------------------------------------------------


@pytest.mark.parametrize("flattened", [False, True])
def test_hub_format(monkeypatch, items, flattened):
    import datasets

    calls = []
    recs = [hub_record(r) for r in raw_rows("ca", "DisabilityStatus")]
    if flattened:  # answer_info flattened into answer_info.ansK columns holding lists
        recs = [{**{k: v for k, v in r.items() if k != "answer_info"},
                 **{f"answer_info.ans{k}": r["answer_info"][f"ans{k}"] for k in range(3)}} for r in recs]

    def fake_load_dataset(path, name=None, split=None, revision=None, **kw):
        calls.append((path, name, split, revision, kw))
        return recs

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    got = load_items("cabbq", source=None, categories=["Disability_status"])
    assert calls == [("BSC-LT/CaBBQ", "DisabilityStatus", "test", mod.HUB_REVISIONS["cabbq"], {})]
    full = items["cabbq"]
    pd.testing.assert_frame_equal(got, full[full.category == "Disability_status"].reset_index(drop=True))
    assert got.attrs["load_report"]["sources"] == ["hub:BSC-LT/CaBBQ/DisabilityStatus@main"]
    calls.clear()
    load_esbbq(None, ["DisabilityStatus"], revision="abc123")
    assert calls[0][:4] == ("BSC-LT/EsBBQ", "DisabilityStatus", "test", "abc123")


def test_hub_numpy_lists(monkeypatch):
    """Records as pandas gives them from parquet (numpy arrays for the list columns) load too."""
    import datasets

    frame = pd.DataFrame([hub_record(r) for r in raw_rows("es", "Religion")])
    frame["stereotyped_groups"] = frame["stereotyped_groups"].map(np.array)
    frame["answer_info"] = frame["answer_info"].map(lambda d: {k: np.array(v) for k, v in d.items()})
    monkeypatch.setattr(datasets, "load_dataset", lambda *a, **k: frame.to_dict("records"))
    got = load_esbbq(None, ["Religion"])
    assert len(got) == 648 and got.attrs["load_report"]["n_skipped"] == 0


def test_hub_failure_and_revision_info(monkeypatch):
    import datasets

    def boom(*a, **k):
        raise ConnectionError("offline\nmore")

    monkeypatch.setattr(datasets, "load_dataset", boom)
    with pytest.raises(DatasetError) as err:
        load_esbbq(None, ["Age"])
    msg = str(err.value)
    assert msg.startswith("could not load EsBBQ category 'Age' from the Hugging Face hub (BSC-LT/EsBBQ@main)")
    assert "--data-dir DIR" in msg and "\n" not in msg
    with pytest.raises(DatasetError, match="unknown EsBBQ category 'Klingon'"):
        load_esbbq(None, ["Klingon"])
    # no commit of the hub repositories could be verified: the pin is the branch, and says so
    assert mod.HUB_REVISION_VERIFIED is False and mod.HUB_REVISIONS == {"esbbq": "main", "cabbq": "main"}


# --- bad input -------------------------------------------------------------------------------------


def test_bad_paths_and_categories(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        load_esbbq(tmp_path / "missing")
    with pytest.raises(DatasetError, match="no esbbq data files"):
        load_esbbq(tmp_path)
    with pytest.raises(DatasetError, match="holds the CaBBQ .data_ca. files: load it as 'cabbq'"):
        load_esbbq(ROOT / "data_ca")
    with pytest.raises(DatasetError, match=r"unknown CaBBQ category 'Klingon': choose from Age, Disability_status"):
        load_cabbq(ROOT, ["Klingon"])
    with pytest.raises(DatasetError, match="no categories given"):
        load_cabbq(ROOT, [])
    d = tmp_path / "only"
    d.mkdir()
    shutil.copy(_raw_path("es", "Religion"), d / "Religion.full.csv")
    with pytest.raises(DatasetError, match=r"no file for category 'SES' .*present here: Religion"):
        load_esbbq(d, ["SES", "Religion"])


def _good_rows():
    return raw_rows("es", "Religion")[:3]


def _write_csv(path: Path, rows: list[dict], raw_text: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if raw_text is not None:
        path.write_text(raw_text, encoding="utf-8")
        return path
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return path


def _bad(**changes):
    return changes


@pytest.mark.parametrize(
    "changes, field, message",
    [
        (_bad(label="3"), "label", "label must be 0, 1 or 2"),
        (_bad(label="x"), "label", "must be an integer"),
        (_bad(context_condition="ambig"), "label", "an ambiguous item's label must be its unknown answer"),
        (_bad(context=""), "context", "field 'context' is empty"),
        (_bad(question_polarity="positive"), "question_polarity", "'neg' or 'nonneg'"),
        (_bad(**{"answer_info.ans0": "['musulmana', "}), "answer_info.ans0", "must be a list literal"),
        (_bad(**{"answer_info.ans2": "['x', 'other']"}), "answer_info", "found 0"),
        (_bad(**{"answer_info.ans1": "['x', 'unknown']"}), "answer_info", "found 2"),
        (_bad(stereotyped_groups="['martian']"), "stereotyped_groups", "no stereotyped group"),
        (_bad(category="SES"), "category", "does not match the file's category 'Religion'"),
        (_bad(instance_id="0"), "example_id", "duplicate instance_id 0 (first on line 2)"),
    ],
)
def test_malformed_record_raise_and_skip(tmp_path, changes, field, message):
    rows = _good_rows()
    rows[1] = {**rows[1], **changes}
    d = tmp_path / "data_es"
    _write_csv(d / "Religion.full.csv", rows)
    with pytest.raises(DatasetError) as err:
        load_esbbq(tmp_path)
    text = str(err.value)
    assert f"Religion.full.csv:3: field {field}" in text and message in text, text
    t = load_esbbq(tmp_path, on_error="skip")
    assert sorted(t.example_id) == [int(rows[0]["instance_id"]), int(rows[2]["instance_id"])]
    skipped = t.attrs["load_report"]["skipped"]
    assert len(skipped) == 1 and skipped[0]["line"] == 3 and skipped[0]["field"] == field


def test_missing_column_and_truncated_files(tmp_path):
    rows = [{k: v for k, v in r.items() if k != "label"} for r in _good_rows()]
    d = tmp_path / "data_es"
    _write_csv(d / "Religion.full.csv", rows)
    with pytest.raises(DatasetError, match=r"Religion.full.csv:2: field label: missing field 'label'"):
        load_esbbq(tmp_path)
    # a plain CSV cut inside a quoted field
    text = _raw_path("es", "Religion").read_text(encoding="utf-8")
    cut = text[: text.index("\n", 5000) + 40]
    _write_csv(d / "Religion.full.csv", [], raw_text=cut)
    with pytest.raises(DatasetError, match=r"Religion.full.csv:\d+: field <line>: row has \d+ fields, the header 24; "
                                           r"the file may be truncated"):
        load_esbbq(tmp_path)
    t = load_esbbq(tmp_path, on_error="skip")
    assert len(t) >= 1 and t.attrs["load_report"]["n_skipped"] == 1
    # a truncated gzip
    (d / "Religion.full.csv").unlink()
    blob = gzip.compress(text.encode("utf-8"))
    (d / "Religion.full.csv.gz").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(DatasetError, match=r"Religion.full.csv.gz:-?\d+: field <line>: .*truncated"):
        load_esbbq(tmp_path)


# --- registry, info, persona catalogues -----------------------------------------------------------


def test_registry_and_info():
    assert {"esbbq", "cabbq"} <= set(available())
    t = load_items("cabbq", source=str(ROOT), categories=["Nationality"])
    assert len(t) == 504 and (t.dataset == "cabbq").all()
    for name in ("esbbq", "cabbq"):
        info = dataset_info(name)
        assert info.name == name and info.languages == (LANG[name],)
        assert info.title.startswith({"esbbq": "EsBBQ", "cabbq": "CaBBQ"}[name])
        assert "CC BY 4.0" in info.licence and "Apache-2.0" in info.licence
        assert "Ruiz-Fernández" in info.citation and "2507.11216" in info.citation
        assert info.url == "https://github.com/langtech-bsc/EsBBQ-CaBBQ"
        assert f"data_{LANG[name]}" in info.source_hint
        assert info.hub == {"esbbq": "BSC-LT/EsBBQ", "cabbq": "BSC-LT/CaBBQ"}[name] and info.hub_revision
        assert info.categories == mod.CATEGORIES and len(info.categories) == 10
        assert dict(info.undefined_metrics) == {}


@pytest.mark.parametrize("name", ["esbbq", "cabbq"])
def test_persona_catalogue_matches_targets(items, name):
    from socialbias.personas import load_personas

    t = items[name]
    targets = set()
    for k in range(3):
        targets |= set(zip(t.category, t[f"target{k}"]))
    targets = {(c, g) for c, g in targets if g != "unknown"}
    for language in (LANG[name], "en"):
        personas = load_personas("paper", dataset=name, language=language)
        covered = set(zip(personas.persona_category, personas.member_of))
        assert covered == targets, (language, sorted(targets - covered), sorted(covered - targets))
        assert personas.persona.str.len().min() > 3
    native = load_personas("paper", dataset=name, language=LANG[name])
    english = load_personas("paper", dataset=name, language="en")
    assert len(native) == len(english) == 92
    assert "una persona" in " ".join(native.persona) and "an elder" in set(english.persona)
