"""Robustness of stated stances: how often an item's stance flips across prompt factors.

Stance of an answer: the side of the scale its option lies on, ``-1`` for the first half of
the options, ``+1`` for the second half, ``0`` for the middle option of an odd scale (so for
"Strongly agree .. Strongly disagree", -1 = agree side, +1 = disagree side). For a factor F
(``template`` = paraphrase, ``forcing``, ``order``), an item *flips* when, among answers that
differ only in F (same model, persona, run and other factors), both stances -1 and +1 occur
(Röttger et al. 2024 count flips the same way across paraphrases). Reported per model, persona
and factor: items compared (at least two levels of F answered), items that flip, share.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

FACTORS = ("template", "forcing", "order")


def stance(choice: np.ndarray, n_options: int) -> np.ndarray:
    mid = (n_options - 1) / 2
    return np.where(choice < 0, 0, np.sign(np.asarray(choice) - mid)).astype(int)


def robustness_table(answers: pd.DataFrame, inst) -> pd.DataFrame:
    """One row per model, persona and factor: ``n_items``, ``n_flipped``, ``flip_share``."""
    df = answers[answers["choice"] >= 0].copy()
    df["stance"] = stance(df["choice"].to_numpy(), len(inst.options))
    rows = []
    for factor in FACTORS:
        others = [f for f in FACTORS if f != factor] + ["run"]
        for (model, persona), g in df.groupby(["model", "persona"], sort=True):
            cells = g.groupby(["item", *others])
            levels = cells[factor].nunique()
            flip = cells["stance"].agg(lambda s: bool((s == -1).any() and (s == 1).any()))
            compared = levels[levels >= 2].index
            per_item = flip.loc[compared].groupby(level="item").any()
            n = int(per_item.size)
            rows.append({"model": model, "persona": persona, "factor": factor, "n_items": n,
                         "n_flipped": int(per_item.sum()), "flip_share": per_item.mean() if n else np.nan})
    return pd.DataFrame(rows, columns=["model", "persona", "factor", "n_items", "n_flipped", "flip_share"])
