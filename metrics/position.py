"""Position bias: does a model pick a displayed letter rather than an answer?

Small and instruction-tuned models often choose "A" whatever it says. When the options are
shown in rotated orders (``--option-orders cyclic|balanced``), choices are first mapped back to
the item's original options (:func:`original_choices`) so that every bias metric is computed on
answers, and the displayed position of each choice is kept for this report.

Per model, :func:`position_bias` reports the share of valid answers at displayed position A, B
and C, beside the share *expected under the design* if the model chose answers regardless of
where they were shown: each item's choices over its original options (pooled over orders,
personas and runs) are placed where each prompt's order showed them. Under the cyclic design
this is 1/3 each; under the fixed design it equals the observed shares, so position bias is not
identifiable there (``p_value`` NaN, ``design`` "fixed"), nor when each item was shown in one
order only (the balanced design with a single run: ``design`` "one order per item").

The test is a randomization test of "the choice does not depend on the order shown": the
statistic is Pearson's chi-square of observed against expected position counts, and its null
distribution comes from re-drawing the design, a uniform cyclic shift of every item's orders
(items are the clusters: all answers to an item move together, so repeated answers by personas
and runs do not inflate the evidence). ``p = (1 + #{T* >= T}) / (1 + n_perm)``. Its
false-positive rate is checked by simulation in ``tests/test_position.py``.
"""

from __future__ import annotations

from typing import cast

import numpy as np
import pandas as pd

from .errors import MetricsInputError

#: Columns of the table :func:`position_bias` returns.
POSITION_COLUMNS: tuple[str, ...] = (
    "model", "design", "n_valid", "n_orders", "share_A", "share_B", "share_C",
    "expected_A", "expected_B", "expected_C", "chi2", "p_value", "n_perm",
)
#: The six orders of three options as tables write them (shown A, B, C = these original options).
ORDER_NAMES = ("012", "021", "102", "120", "201", "210")


def order_matrix(option_order: np.ndarray | pd.Series) -> np.ndarray:
    """Orders as an (n, 3) int8 array: row i, column d = original option shown at position d.
    A categorical ``option_order`` is decoded from its codes (no string per row); int8, as
    the options are 0-2: for 1.6 M answers 4.9 MB instead of 39 MB of int64, which the
    reading of ``score`` paid for in page faults."""
    codes, table = _order_codes(option_order)
    matrix: np.ndarray = table[codes]
    return matrix


def _order_codes(option_order: np.ndarray | pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Each answer's code into the table (distinct orders x 3, int8) of its distinct orders
    (:func:`order_matrix` is ``table[codes]``); an order that is not one of three options is
    refused with the fix."""
    categorical = isinstance(getattr(option_order, "dtype", None), pd.CategoricalDtype)
    values = option_order if categorical else pd.Series(np.asarray(option_order, dtype=object))
    codes, uniques = pd.factorize(values, sort=False)
    bad = [u for u in uniques if u not in ORDER_NAMES]
    if bad or (codes < 0).any():
        raise MetricsInputError(f"option_order values {bad[:3] or ['<missing>']} are not orders of three options. "
                                "Fix: write each order as three digits, e.g. '120' (shown A, B, C = original 1, 2, 0).")
    return codes, np.array([[int(ch) for ch in u] for u in uniques], dtype=np.int8).reshape(-1, 3)


def original_choices(shown: np.ndarray, option_order: np.ndarray | pd.Series) -> np.ndarray:
    """Map choices of *displayed* positions (0, 1, 2; -1 = none) to the item's original options.
    Looked up in a small table per distinct order (columns: none, A, B, C), not through an
    (n, 3) matrix of every answer's order."""
    shown = np.asarray(shown, dtype=np.int64)
    codes, table = _order_codes(option_order)
    lookup = np.concatenate([np.full((table.shape[0], 1), -1, np.int8), table], axis=1)
    original: np.ndarray = lookup[codes, np.clip(shown, -1, 2) + 1]
    return original


def original_probabilities(probs: np.ndarray, option_order: np.ndarray | pd.Series) -> np.ndarray:
    """Map per-letter probabilities (n, 3) of displayed positions to original options (n, 3)."""
    probs = np.asarray(probs, dtype=float)
    orders = order_matrix(option_order)
    out = np.empty_like(probs)
    out[np.arange(probs.shape[0])[:, None], orders] = probs
    return out


def displayed_positions(original: np.ndarray, option_order: np.ndarray | pd.Series) -> np.ndarray:
    """The displayed position (0, 1, 2) at which each original choice was shown; -1 for none."""
    original = np.asarray(original, dtype=np.int64)
    orders = order_matrix(option_order)
    hit = orders == np.clip(original, 0, 2)[:, None]
    return np.where(original >= 0, hit.argmax(axis=1), -1).astype(np.int8)


def order_runs(instruction: np.ndarray, option_order: np.ndarray | pd.Series, repeated: bool) -> np.ndarray:
    """The metrics' ``run`` of each answer: the instruction, or when one (item, persona,
    instruction) was asked in several orders (the cyclic design), one run per (instruction,
    order) pair, ``6 * instruction + j`` with j the order's index among the six orders of three
    options. Personas are then compared with the default persona under the same order."""
    instruction = np.asarray(instruction, dtype=np.int64)
    if not repeated:
        return instruction.astype(np.int16)
    index = pd.Series(np.asarray(option_order, dtype=object)).map({p: j for j, p in enumerate(ORDER_NAMES)})
    if index.isna().any():
        raise MetricsInputError("option_order holds a value that is not an order of three options. "
                                "Fix: write each order as three digits, e.g. '120'.")
    return (6 * instruction + index.to_numpy(dtype=np.int64)).astype(np.int16)


def _chi2(observed: np.ndarray, expected: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(expected > 0, (observed - expected) ** 2 / expected, 0.0)
    out: np.ndarray = terms.sum(axis=-1)
    return out


def _identifiable(codes: np.ndarray, order_code: np.ndarray, n_orders: int) -> bool:
    """Whether some item was shown in more than one order (else position and answer are
    confounded); ``order_code`` indexes the ``n_orders`` distinct orders."""
    pairs = np.unique(codes * n_orders + order_code)
    return bool(np.bincount(pairs // n_orders).max(initial=0) > 1)


def _test_one(item: np.ndarray, position: np.ndarray, orders: np.ndarray, order_code: np.ndarray, n_orders: int,
              original: np.ndarray, n_perm: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Observed and expected position counts, chi-square and randomization p-value of one model
    (``orders``: each answer's order, the row ``order_code`` of the ``n_orders`` distinct ones)."""
    codes, uniques = pd.factorize(item, sort=False)
    g = len(uniques)
    content = np.bincount(codes * 3 + original, minlength=3 * g).reshape(g, 3).astype(np.float64)
    q = content / content.sum(axis=1, keepdims=True)  # each item's choice shares over its original options
    # N_g[x]: answers of item g shown at position x; M_g[x]: expected there if the order did not matter.
    counts = np.bincount(codes * 3 + position, minlength=3 * g).reshape(g, 3).astype(np.float64)
    expect = np.stack([np.bincount(codes, weights=q[codes, orders[:, d]], minlength=g) for d in range(3)], axis=1)
    observed, expected = counts.sum(axis=0), expect.sum(axis=0)
    t = float(_chi2(observed, expected))
    if n_perm <= 0 or not _identifiable(codes, order_code, n_orders):
        return observed, expected, t, float("nan")
    rolled_n = [np.roll(counts, -s, axis=1) for s in range(3)]
    rolled_m = [np.roll(expect, -s, axis=1) for s in range(3)]
    exceed, done, block = 0, 0, max(1, min(n_perm, 4_000_000 // g))
    while done < n_perm:
        b = min(block, n_perm - done)
        shift = rng.integers(0, 3, size=(b, g))
        obs = sum((shift == s).astype(float) @ rolled_n[s] for s in range(3))
        exp = sum((shift == s).astype(float) @ rolled_m[s] for s in range(3))
        exceed += int((_chi2(obs, exp) >= t - 1e-9 * max(1.0, t)).sum())
        done += b
    return observed, expected, t, (1 + exceed) / (1 + n_perm)


def position_bias(answers: pd.DataFrame, *, n_perm: int = 999, seed: int = 0) -> pd.DataFrame:
    """Each model's position bias (see the module docstring); columns :data:`POSITION_COLUMNS`.

    ``answers`` needs ``model``, ``item_id``, ``choice`` (original option, -1 = none) and
    ``option_order`` (three digits; absent = every answer in the source order). Invalid answers
    are left out. ``n_perm`` re-drawings of the design give the p-value (0: no test).
    """
    missing = [c for c in ("model", "item_id", "choice") if c not in answers.columns]
    if missing:
        raise MetricsInputError(f"answers table lacks column(s) {missing} for the position report. "
                                "Fix: pass the answers table metrics.score_answers takes.")
    if n_perm < 0:
        raise MetricsInputError(f"n_perm must be >= 0, got {n_perm}. Fix: pass 0 (no test) or more.")
    rows = []
    # Each column decoded once (string columns may be Arrow-backed: per-model conversions are slow).
    model_code, models = pd.factorize(answers["model"], sort=True)
    item_code, _ = pd.factorize(answers["item_id"])
    if "option_order" in answers.columns:
        order_code, table = _order_codes(answers["option_order"])
    else:
        order_code, table = np.zeros(len(answers), np.int64), np.arange(3, dtype=np.int8).reshape(1, 3)
    # shown_at[o, x]: the position at which order o showed original option x
    shown_at = (table[:, None, :] == np.arange(3)[None, :, None]).argmax(axis=2)
    all_choice = answers["choice"].to_numpy().astype(np.int64)
    if all_choice.size and all_choice.max() > 2:
        raise MetricsInputError(f"choice values up to {int(all_choice.max())} in the position report: a choice is "
                                "an original option. Fix: 0, 1 or 2, and -1 for no valid answer.")
    by_model = np.argsort(model_code, kind="stable")
    bounds = np.searchsorted(model_code[by_model], np.arange(len(models) + 1))
    for m, model in enumerate(models):
        idx = by_model[bounds[m]:bounds[m + 1]]
        choice = all_choice[idx]
        valid = choice >= 0
        n = int(valid.sum())
        if n == 0:
            continue
        codes = order_code[idx][valid]
        orders = table[codes]
        original = choice[valid]
        position = shown_at[codes, original]
        # One random stream per model, derived from (seed, model name): adding a model changes no other row.
        rng = np.random.default_rng([int(seed), *str(model).encode("utf-8")])
        observed, expected, t, p = _test_one(item_code[idx][valid], position, orders, codes, len(table), original,
                                             n_perm, rng)
        n_orders = int(np.count_nonzero(np.bincount(codes, minlength=len(table))))
        design = "fixed" if n_orders < 2 else "rotated" if np.isfinite(p) or n_perm == 0 else "one order per item"
        rows.append({
            "model": model, "design": design, "n_valid": n, "n_orders": n_orders,
            **{f"share_{x}": observed[d] / n for d, x in enumerate("ABC")},
            **{f"expected_{x}": expected[d] / n for d, x in enumerate("ABC")},
            "chi2": t if np.isfinite(p) else float("nan"), "p_value": p, "n_perm": n_perm if np.isfinite(p) else 0,
        })
    return pd.DataFrame(rows, columns=list(POSITION_COLUMNS))


def describe(table: pd.DataFrame) -> list[str]:
    """One line per model for the summary and the report."""
    lines = []
    for row in table.itertuples(index=False):
        shares = ", ".join(f"{x} {getattr(row, f'share_{x}'):.2f} (expected {getattr(row, f'expected_{x}'):.2f})"
                           for x in "ABC")
        if row.design == "fixed":
            verdict = "options not rotated: position bias is not identifiable (use --option-orders cyclic)"
        elif row.design == "one order per item":
            verdict = "each item was shown in one order only: position bias is not identifiable (ask several runs)"
        elif not np.isfinite(cast(float, row.p_value)):
            verdict = "not tested (no bootstrap requested)"
        else:
            verdict = f"chi2 {row.chi2:.1f}, randomization p = {row.p_value:.3g} ({row.n_perm} re-drawings)"
        lines.append(f"position bias {row.model}: shown positions chosen {shares}; {verdict}")
    return lines



__all__ = ["ORDER_NAMES", "POSITION_COLUMNS", "describe", "order_matrix", "displayed_positions", "order_runs", "original_choices",
           "original_probabilities", "position_bias"]
