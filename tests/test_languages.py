"""Prompt languages, catalogue names per language, and metrics a dataset cannot support."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from socialbias.errors import InputError
from socialbias.languages import available_languages, load_language


def test_every_shipped_language_loads_with_provenance():
    codes = available_languages()
    assert {"en", "ko", "zh", "es", "ca", "eu", "nl", "tr", "ja"} <= set(codes)
    for code in codes:
        lang = load_language(code)
        assert lang.code == code
        assert len(lang.instructions) == 5, code
        assert all("{0}" in t for t in lang.instructions)
        assert "{context}" in lang.task and "{question}" in lang.task
        # the option letters are the same Latin letters in every language (logprob scoring reads them)
        for letter in ("(A)", "(B)", "(C)"):
            assert letter in lang.task and letter in lang.options
        assert lang.translator and lang.method and lang.reviewed
        if code != "en":
            assert "not yet reviewed" in lang.reviewed


def test_english_is_the_paper_prompt_verbatim():
    import socialbias.expand as expand_module
    from socialbias.personas import load_instructions

    en = load_language("en")
    assert en.task == expand_module.TASK_TEMPLATE
    assert en.options == expand_module.OPTIONS_TEMPLATE
    assert en.answer_cue == expand_module.ANSWER_CUE
    assert list(en.instructions) == load_instructions("paper")


def test_expand_in_another_language_keeps_layout_and_english_ids(bbq_items):
    import socialbias.expand as expand_module
    from socialbias.personas import load_personas

    items = bbq_items[bbq_items["category"] == "Religion"].head(3)
    personas = load_personas("paper", ["Religion"], names=["Muslim"])
    en = load_language("en")
    plain = expand_module.expand(items, personas, list(en.instructions), runs=[0])
    same = expand_module.expand(items, personas, list(en.instructions), runs=[0], language=en)
    assert plain["prompt_id"].tolist() == same["prompt_id"].tolist()

    ko = load_language("ko")
    korean = expand_module.expand(items, personas, list(ko.instructions), runs=[0], language=ko)
    assert len(korean) == len(plain)
    assert not set(korean["prompt_id"]) & set(plain["prompt_id"])
    msgs = korean.loc[korean["persona"] == "Muslim", "messages"].iloc[0]
    assert [m["role"] for m in msgs] == ["system", "user", "user", "user"]
    assert msgs[0]["content"].startswith("당신은 Muslim입니다.")
    assert msgs[1]["content"].startswith("주어진 맥락을 읽고") and "맥락: " in msgs[1]["content"]
    assert msgs[2]["content"].startswith("(A): ")
    assert msgs[3]["content"] == "답:"


def test_own_language_file_and_its_errors(tmp_path):
    good = tmp_path / "fr.toml"
    good.write_text(
        'code = "fr"\nname = "French"\ntranslator = "me"\nmethod = "by hand"\nreviewed = "yes"\n'
        'instructions = ["Tu es {0}."]\n'
        'task = "Contexte : {context}\\nQuestion : {question}\\n(A), (B) ou (C) ?\\n"\n'
        'options = "(A): {0}\\n(B): {1}\\n(C): {2}\\n"\nanswer_cue = "Réponse :"\n',
        encoding="utf-8",
    )
    assert load_language(str(good)).instructions == ("Tu es {0}.",)
    bad = tmp_path / "bad.toml"
    bad.write_text(good.read_text(encoding="utf-8").replace("Tu es {0}.", "Tu es."), encoding="utf-8")
    with pytest.raises(InputError, match=r"instruction 0 lacks \{0\}"):
        load_language(str(bad))
    bad.write_text(good.read_text(encoding="utf-8").replace("{question}", "{questoin}"), encoding="utf-8")
    with pytest.raises(InputError, match="task is not a valid template"):
        load_language(str(bad))
    bad.write_text('code = "x"\n', encoding="utf-8")
    with pytest.raises(InputError, match="lacks key"):
        load_language(str(bad))
    with pytest.raises(InputError, match="no prompt translation for language 'xx'"):
        load_language("xx")
    with pytest.raises(InputError, match="does not exist"):
        load_language(str(tmp_path / "missing.toml"))


def test_catalogue_names_per_language_and_explicit_targets(tmp_path):
    from socialbias.personas import load_personas

    csv = tmp_path / "mine.csv"
    csv.write_text("Category,Subcategory,Target,Name_en,Name_ko\n"
                   "Age,old,old,an elderly person,노인\nAge,nonOld,nonOld,a young person,청년\n", encoding="utf-8")
    ko = load_personas(str(csv), language="ko")
    assert ko["persona"].tolist() == ["노인", "청년"]
    assert ko["member_of"].tolist() == ["old", "nonOld"]
    en = load_personas(str(csv), language="en")
    assert en["persona"].tolist() == ["an elderly person", "a young person"]
    with pytest.raises(InputError, match="no persona names in language 'zh'.*--prompt-language en"):
        load_personas(str(csv), language="zh")
    with pytest.raises(InputError, match="no persona catalogue ships for dataset 'nosuch'"):
        load_personas("paper", dataset="nosuch")


def test_undefined_metrics_are_nan_with_the_reason(tmp_path):
    from socialbias import metrics
    from socialbias.metrics.results import MetricResults
    from socialbias.metrics.score import blank_undefined

    answers = _small_answers()
    full = metrics.score_answers(answers, n_boot=20)
    dis = full.summary["context_condition"] == "disambig"
    assert np.isfinite(full.summary.loc[dis, "s_dis"]).all()
    reason = "gold labels follow polarity only"
    blank = metrics.score_answers(answers, n_boot=20, undefined_metrics={"s_dis": reason, "s_amb_paper": reason})
    for col in ("s_dis", "s_dis_sd", "s_dis_lo", "s_dis_hi", "s_amb_paper", "s_amb_paper_lo"):
        assert blank.summary[col].isna().all(), col
    assert blank.summary.loc[dis, "bias_score"].isna().all()
    assert blank.bbq_scores["s_dis"].isna().all()
    # what can still be computed is unchanged
    pd.testing.assert_series_equal(blank.summary["TB"], full.summary["TB"])
    pd.testing.assert_series_equal(blank.summary["s_amb"], full.summary["s_amb"])
    assert blank.config["undefined_metrics"] == {"s_dis": reason, "s_amb_paper": reason}
    blank.save(tmp_path / "r")
    assert json.loads((tmp_path / "r" / "config.json").read_text())["undefined_metrics"]["s_dis"] == reason
    assert MetricResults.load(tmp_path / "r").config["undefined_metrics"]["s_dis"] == reason
    with pytest.raises(metrics.MetricsInputError, match="only s_dis, s_amb, s_amb_paper"):
        blank_undefined(full, {"TB": "no"})


def _small_answers() -> pd.DataFrame:
    """A random answerer over a tiny synthetic BBQ-like grid (both contexts, both polarities)."""
    rng = np.random.default_rng(0)
    rows = []
    for item in range(40):
        ctx = "ambig" if item % 2 else "disambig"
        pol = "neg" if item % 4 < 2 else "nonneg"
        for persona, member in (("", ""), ("elder", "old"), ("kid", "nonOld")):
            for run in range(2):
                rows.append({
                    "model": "m", "category": "Age", "context_condition": ctx, "item_id": f"i{item}",
                    "polarity": pol, "persona": persona, "persona_member_of": member, "run": run,
                    "choice": int(rng.integers(-1, 3)), "label": 2 if ctx == "ambig" else item % 2,
                    "unknown_idx": 2, "stereotyped_idx": 0, "target0": "old", "target1": "nonOld",
                    "target2": "unknown", "excluded": False,
                })
    return pd.DataFrame(rows)
