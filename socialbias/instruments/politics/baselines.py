"""Baseline answerers for political instruments: the random answerer and constant answerers.

The *random answerer* picks every option of every item with equal probability, independently.
All scorings here are linear in the per-item weights once every item is answered (weighted_sum;
weighted_ratio with fixed denominators), so its mean and covariance are exact:

    mean_a = offset_a + c_a * sum_i mean_k W[i, k, a]
    cov_ab = c_a c_b * sum_i cov_k(W[i, k, a], W[i, k, b])

with ``c_a = scale_a / divisor_a`` (weighted_sum) or ``scale_a / sum_i max_k |W[i, k, a]|``
(weighted_ratio; every item answered). Derived axes (``plus - minus``) follow from the
covariance. Its 95% region is taken from Monte Carlo quantiles (the sum of a few discrete
items is not normal), with the exact moments as a check (tests compare both with simulation).

*Constant answerers* give the same option to every item ("always Strongly agree", ...): the
spread between them exposes how much a score owes to acquiescence rather than content.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .instrument import PoliticalInstrument


@dataclass(frozen=True)
class RandomBaseline:
    """The random answerer on one instrument: exact moments and Monte Carlo quantiles per axis."""

    axes: list[str]
    mean: np.ndarray
    cov: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    level: float
    n_sims: int

    @property
    def sd(self) -> np.ndarray:
        return np.sqrt(np.diag(self.cov))

    def as_dict(self) -> dict[str, dict[str, float]]:
        return {a: {"mean": float(self.mean[j]), "sd": float(self.sd[j]), "lo": float(self.lo[j]),
                    "hi": float(self.hi[j])} for j, a in enumerate(self.axes)}


def _coefficients(inst: PoliticalInstrument) -> np.ndarray:
    """c_a: score change per unit of summed weight, every item answered."""
    if inst.kind == "weighted_sum":
        return inst.scale / inst.divisor
    denom = inst.max_abs.sum(axis=0)
    return inst.scale / np.where(denom > 0, denom, np.nan)


def _contrast(inst: PoliticalInstrument) -> np.ndarray:
    """(all axes x base axes) matrix: identity, then one row per derived axis (plus - minus)."""
    base = list(inst.axes)
    rows = [np.eye(len(base))]
    for d in inst.derived:
        r = np.zeros(len(base))
        r[base.index(d["plus"])] += 1
        r[base.index(d["minus"])] -= 1
        rows.append(r[None, :])
    return np.concatenate(rows)


def exact_moments(inst: PoliticalInstrument) -> tuple[np.ndarray, np.ndarray]:
    """(mean, covariance) of the random answerer's scores over :attr:`~PoliticalInstrument.all_axes`."""
    c = _coefficients(inst)
    w = inst.weights  # (items, options, axes)
    mean_w = w.mean(axis=1)
    centred = w - mean_w[:, None, :]
    cov_w = np.einsum("ika,ikb->ab", centred, centred) / w.shape[1]
    offset_derived = _contrast(inst) @ inst.offset
    mean = offset_derived + _contrast(inst) @ (c * mean_w.sum(axis=0))
    cov_base = np.outer(c, c) * cov_w
    L = _contrast(inst)
    return mean, L @ cov_base @ L.T


def simulate_random(inst: PoliticalInstrument, n_sims: int = 10_000, seed: int = 0, chunk_cells: int = 4_000_000) -> np.ndarray:
    """(n_sims x all axes) scores of simulated random answerers, every item answered.

    Uses the linear form (offset + c * summed weight) axis by axis over the items on that axis
    only, so a 6000-item instrument whose items each load on one axis costs 6000 draws per
    simulated answerer, not 6000 x axes; chunked to bound memory."""
    rng = np.random.default_rng(seed)
    n_items, n_opt = len(inst.items), len(inst.options)
    c = _coefficients(inst)
    columns = [np.flatnonzero(inst.on_axis[:, a]) for a in range(len(inst.axes))]
    per_chunk = max(1, chunk_cells // max(1, n_items))
    out = []
    for start in range(0, n_sims, per_chunk):
        choices = rng.integers(0, n_opt, size=(min(per_chunk, n_sims - start), n_items))
        numer = np.zeros((choices.shape[0], len(inst.axes)))
        for a, items in enumerate(columns):
            if items.size:
                numer[:, a] = inst.weights[items, :, a][np.arange(items.size), choices[:, items]].sum(axis=1)
        out.append(inst.offset + c * numer)
    return np.concatenate(out) @ _contrast(inst).T


def random_baseline(inst: PoliticalInstrument, level: float = 0.95, n_sims: int = 10_000, seed: int = 0) -> RandomBaseline:
    """The random answerer: exact mean/covariance and the central ``level`` Monte Carlo region."""
    mean, cov = exact_moments(inst)
    sims = simulate_random(inst, n_sims=n_sims, seed=seed)
    alpha = (1 - level) / 2
    lo, hi = np.quantile(sims, [alpha, 1 - alpha], axis=0)
    return RandomBaseline(inst.all_axes, mean, cov, lo, hi, level, n_sims)


def constant_answerers(inst: PoliticalInstrument) -> dict[str, dict[str, float]]:
    """Scores of answerers who always give the same option, keyed ``always <option>``."""
    n = len(inst.items)
    return {f"always {opt}": inst.score(np.full(n, k)) for k, opt in enumerate(inst.options)}
