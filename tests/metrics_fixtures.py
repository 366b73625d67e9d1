"""Test helpers for the metrics tests: real BBQ items, the paper's recorded answers, and a
simulated answerer with a planted bias.

The items helper is a stand-in for ``bbq_adapters`` (written concurrently) for the two
categories whose target label is the option name: Religion and Sexual_orientation
(docs/method.md section 3): target label = ``answer_info[ansK][0]``; unknown option = the one
whose ``answer_info[ansK][1] == "unknown"``; stereotyped option = the target option whose
name is in ``additional_metadata.stereotyped_groups``.
"""

from __future__ import annotations

import gzip
import json
import re
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
BBQ_DATA = SHARED / "bbq" / "data"
PAPER_DIR = SHARED / "paper_outputs" / "Llama-2-7b-chat-hf"
PAPER_MODEL = "Llama-2-7b-chat-hf"


def _item_fields(rec: dict) -> dict:
    info = rec["answer_info"]
    names = [info[f"ans{k}"][0] for k in range(3)]
    tags = [info[f"ans{k}"][1] for k in range(3)]
    unknown = tags.index("unknown")
    groups = rec["additional_metadata"]["stereotyped_groups"]
    stereo = [k for k in range(3) if k != unknown and names[k] in groups]
    targets = ["unknown" if k == unknown else names[k] for k in range(3)]
    return {
        "category": rec["category"],
        "item_id": f"{rec['category']}:{rec['example_id']}",
        "context_condition": rec["context_condition"],
        "polarity": rec["question_polarity"],
        "question_index": str(rec["question_index"]),
        "label": int(rec["label"]),
        "unknown_idx": unknown,
        "stereotyped_idx": stereo[0] if len(stereo) == 1 else -1,
        "target0": targets[0],
        "target1": targets[1],
        "target2": targets[2],
    }


@lru_cache(maxsize=None)
def _bbq_items(category: str) -> pd.DataFrame:
    with open(BBQ_DATA / f"{category}.jsonl", encoding="utf-8") as fh:
        return pd.DataFrame([_item_fields(json.loads(line)) for line in fh])


def bbq_items(category: str) -> pd.DataFrame:
    """Items table (item_id, category, context_condition, polarity, label, unknown_idx,
    stereotyped_idx, target0..2) of a local BBQ category (Religion or Sexual_orientation)."""
    return _bbq_items(category).copy()


@lru_cache(maxsize=1)
def _paper_answers() -> pd.DataFrame:
    frames = []
    for path in sorted(PAPER_DIR.glob("*/*.json.gz")):
        m = re.search(r"refined_p_(.+)_inst_(\d+)_target_", path.name)
        persona, run = m.group(1), int(m.group(2))
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            records = json.load(fh)
        df = pd.DataFrame([_item_fields(rec) for rec in records])
        refined = np.array([rec["response"]["refined"] for rec in records])
        df["choice"] = np.where(refined == 9, -1, refined)
        df["persona"] = "" if persona == "Baseline" else persona
        df["run"] = run
        frames.append(df)
    out = pd.concat(frames, ignore_index=True)
    out["model"] = PAPER_MODEL
    out["excluded"] = False
    out["persona_member_of"] = out["persona"]  # the Sexual_orientation personas are their group
    return out


def paper_answers() -> pd.DataFrame:
    """The paper's recorded Llama-2-7b-chat answers (Sexual_orientation, 6 personas incl.
    the default, 5 runs) as an answers table: choice = response.refined (9 -> -1)."""
    return _paper_answers().copy()


def simulate_answers(
    items: pd.DataFrame,
    personas: dict[str, str],
    *,
    runs: int = 5,
    q: float = 0.5,
    p_target: float = 2 / 3,
    ingroup: float = 0.0,
    p_correct_disambig: float = 1 / 3,
    seed: int = 0,
    model: str = "sim",
) -> pd.DataFrame:
    """Answers of a simulated answerer with a planted bias, vectorised over responses.

    Per response: in ambiguous items the answerer names a target with probability
    ``p_target`` (else unknown); which target: the one favoured by the planted bias with
    probability ``q``. The planted bias is *stereotyped*: in negative questions it names
    the stereotyped option, in non-negative ones the anti-stereotyped option (q = 0.5:
    unbiased). A persona with a group (``personas[name]`` = its target label, "" = none)
    additionally *favours its own group* when its group is one of the two targets: with
    probability ``ingroup`` it names the other target in negative questions and its own
    group in non-negative ones. In disambiguated items the answerer picks the gold label
    with probability ``p_correct_disambig`` and otherwise answers as in an ambiguous item
    (naming its preferred target counts when that target is not the gold label).
    ``personas`` should include "" (the default persona).
    """
    rng = np.random.default_rng(seed)
    it = items.reset_index(drop=True)
    names = list(personas)
    n_i, n_p = len(it), len(names)
    # responses: item x persona x run
    ii = np.repeat(np.arange(n_i), n_p * runs)
    pp = np.tile(np.repeat(np.arange(n_p), runs), n_i)
    kk = np.tile(np.arange(runs), n_i * n_p)
    n = ii.size
    u = it["unknown_idx"].to_numpy()[ii]
    st = it["stereotyped_idx"].to_numpy()[ii]
    lab = it["label"].to_numpy()[ii]
    neg = it["polarity"].to_numpy()[ii] == "neg"
    amb = it["context_condition"].to_numpy()[ii] == "ambig"
    tmat = it[["target0", "target1", "target2"]].to_numpy()[ii]
    anti = 3 - u - st
    # the option the stereotype prefers (an arbitrary target where no stereotype is defined)
    biased = np.where(st < 0, (u + 1) % 3, np.where(neg, st, anti))
    unbiased = 3 - u - biased
    pick_biased = rng.random(n) < q
    tgt = np.where(pick_biased, biased, unbiased)
    # in-group favouritism
    member = np.array([personas[nm] for nm in names], dtype=object)[pp]
    own = np.full(n, -1)
    for k in range(3):
        own = np.where(tmat[:, k] == member, k, own)
    has_own = (own >= 0) & (member != "")
    other = 3 - u - np.maximum(own, 0)
    favour = has_own & (rng.random(n) < ingroup)
    tgt = np.where(favour, np.where(neg, other, own), tgt)
    names_target = rng.random(n) < p_target
    choice_amb = np.where(names_target, tgt, u)
    # disambiguated: the gold label with p_correct_disambig, else as in ambiguous items.
    correct = rng.random(n) < p_correct_disambig
    choice_dis = np.where(correct, lab, choice_amb)
    choice = np.where(amb, choice_amb, choice_dis)
    out = it.iloc[ii].reset_index(drop=True)
    out["model"] = model
    out["persona"] = np.array(names, dtype=object)[pp]
    out["persona_member_of"] = member
    out["run"] = kk
    out["choice"] = choice
    out["excluded"] = False
    return out
