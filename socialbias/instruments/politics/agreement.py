"""Agreement between log-probability and text answers, on a sample of a study's prompts.

The first-token answer (logprob mode) and the generated text (generate mode) of an
instruction-tuned model often differ (Wang et al. 2024, "My answer is C"; Röttger et al. 2024),
so a score from one mode says little about the other. ``run --instrument ... --agreement N``
asks a seeded sample of N prompts of the grid (attempt 0, without retries or judge) in the other
mode too, and writes ``agreement.csv``, one row per model and persona:

``n_sampled``        prompts in the sample;
``text_invalid_rate`` share of them whose text the strict parser cannot read;
``n_both``           prompts with a valid answer in both modes;
``agreement``        share of those where the text names the log-probability argmax, with a
                     Wilson score interval (``agreement_lo``, ``agreement_hi``);
``stance_agreement`` share where both lie on the same side of the scale (agree / neutral /
                     disagree, :func:`~.robustness.stance`), with its interval.

``answers.csv`` gets ``logprob_choice`` and ``text_choice`` (instrument order, -1 = invalid) for
the sampled prompts. The Wilson interval treats the sampled prompts as independent draws from
the grid; its coverage is checked by simulation in the tests (docs/method.md section 11).
"""

from __future__ import annotations

import json
from statistics import NormalDist

import numpy as np
import pandas as pd

from ...errors import InputError
from .robustness import stance

COLUMNS = ["model", "persona", "n_sampled", "text_invalid_rate", "n_both", "agreement", "agreement_lo", "agreement_hi",
           "stance_agreement", "stance_agreement_lo", "stance_agreement_hi"]


def wilson_interval(k, n, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """The Wilson score interval of a binomial share k/n (arrays allowed; NaN where n == 0)."""
    k, n = np.asarray(k, dtype=float), np.asarray(n, dtype=float)
    z = NormalDist().inv_cdf(0.5 + level / 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return np.clip(centre - half, 0, 1), np.clip(centre + half, 0, 1)


def sample_prompts(prompts: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    """A seeded sample of ``n`` prompts of the grid (all of them when it has fewer)."""
    if n < 1:
        raise InputError(f"--agreement {n}: give a positive number of prompts to ask in both modes")
    if n >= len(prompts):
        return prompts
    return prompts.sample(n=n, random_state=np.random.RandomState(seed)).sort_index()


def other_choices(prompts: pd.DataFrame, stored: pd.DataFrame, options) -> dict[str, int]:
    """prompt_id -> the instrument's option chosen in the other mode's stored answers (-1: none):
    logprob answers by their argmax, text by the strict parser against the presented order."""
    from .answers import parse_option

    orders = dict(zip(prompts["prompt_id"], prompts["order"]))
    out = {}
    for pid, choice, text, parse in zip(stored["prompt_id"], stored["choice"], stored["text"], stored["parse"]):
        if pid not in orders:
            continue
        order = json.loads(orders[pid])
        if str(parse).startswith("logprob"):
            out[pid] = order[int(choice)] if choice >= 0 else -1
        else:
            k = parse_option(text, [options[j] for j in order])
            out[pid] = order[k] if k >= 0 else -1
    return out


def add_choices(answers: pd.DataFrame, mode: str, other: dict[str, int]) -> pd.DataFrame:
    """``answers`` with ``logprob_choice`` and ``text_choice`` (NA outside the sample). The run's
    own mode contributes its first attempt (before retries or a judge)."""
    out = answers.copy()
    own = out["first_choice"] if "first_choice" in out.columns else out["choice"]
    sampled = out["prompt_id"].isin(other.keys())
    mine = pd.Series(own, dtype="Int64").where(sampled)
    theirs = pd.Series([other.get(p, -1) for p in out["prompt_id"]], index=out.index, dtype="Int64").where(sampled)
    out["logprob_choice"], out["text_choice"] = (mine, theirs) if mode == "logprob" else (theirs, mine)
    return out


def agreement_table(answers: pd.DataFrame, n_options: int, level: float = 0.95) -> pd.DataFrame:
    """``agreement.csv`` (see the module docstring) from answers with both choice columns."""
    df = answers[answers["logprob_choice"].notna() & answers["text_choice"].notna()]
    rows = []
    persona = df["persona"] if "persona" in df.columns else pd.Series("", index=df.index)
    for (model, who), g in df.assign(persona=persona).groupby(["model", "persona"], sort=True):
        lp, tx = g["logprob_choice"].to_numpy(dtype=int), g["text_choice"].to_numpy(dtype=int)
        both = (lp >= 0) & (tx >= 0)
        same = int((lp[both] == tx[both]).sum())
        same_side = int((stance(lp[both], n_options) == stance(tx[both], n_options)).sum())
        n = int(both.sum())
        (lo, hi), (slo, shi) = wilson_interval(same, n, level), wilson_interval(same_side, n, level)
        rows.append({"model": model, "persona": who, "n_sampled": len(g), "text_invalid_rate": float((tx < 0).mean()),
                     "n_both": n, "agreement": same / n if n else np.nan, "agreement_lo": float(lo),
                     "agreement_hi": float(hi), "stance_agreement": same_side / n if n else np.nan,
                     "stance_agreement_lo": float(slo), "stance_agreement_hi": float(shi)})
    return pd.DataFrame(rows, columns=COLUMNS)
