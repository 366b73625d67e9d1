"""``MetricResults``: the tables :func:`metrics.score_answers` returns, and their CSV files.

Tables (long format; ``persona`` "" is the default persona; ``*_sd`` = population sd over
runs; ``*_lo``/``*_hi`` = bootstrap interval over resampling clusters -- BBQ templates by
default, :mod:`metrics.clusters` -- of the mean over runs: percentile intervals for signed
and ratio statistics; for the means of absolute values TB, TB(p->T), PB(p), PB and
PB_floor an interval of the *true* value, one-sided at 0, from :mod:`metrics.abs_intervals`;
signed and ratio intervals are widened for few clusters, see ``n_clusters``):

- ``summary``: one row per (model, category, context_condition). First columns, in order,
  :data:`SUMMARY_HEAD`; then ``*_lo``/``*_hi`` for TB, BAmt, PB, PB_floor, s_dis, s_amb,
  s_amb_paper, acc, invalid_rate; ``type_confidence``, ``PB_exceeds_floor``, ``n_excluded``;
  then extras (sds of the BBQ numbers, the context's raw ``bias_score``, ``PB_excess`` =
  PB - PB_floor with its interval, the type thresholds ``TB_threshold``, ``BAmt_random``,
  ``BAmt_threshold``, ``TB_null`` (noise level of the plug-in TB), the typed ``TB_mid``,
  ``type_status``, ``type_possible``, ``p_skewed``, ``p_large``, and counts ``n_items``,
  ``n_default_responses``, ``n_personas``, ``n_runs``, ``n_clusters`` (resampling clusters:
  templates by default)). s_dis is on the disambiguated row, s_amb and s_amb_paper on the ambiguous row
  (NaN on the other row: not applicable), as in the paper's table; ``type`` is one of
  :data:`metrics.TYPES` (<NA> without a default persona) and ``type_confidence`` the
  calibrated probability that it is right (:mod:`metrics.model_types`). TB, BAmt, acc, invalid_rate and the BBQ
  scores are the default persona's;
  ``n_responses`` counts all responses of the stratum. TB, PB, PB_floor are the paper's
  plug-in estimates (also as ``TB_plugin``, ``PB_plugin``); ``TB_debiased``,
  ``PB_debiased``, ``PB_floor_debiased``, ``PB_excess_debiased`` are the cross-fitted
  estimates (:mod:`metrics.crossfit`); ``PB_excess_lo/hi`` is the interval of the true
  PB - PB_floor (:mod:`metrics.abs_intervals`). ``PB_exceeds_floor``: the persona-exchange test
  (:mod:`metrics.persona_test`) rejects "no persona shifts the model" at level 1 - ci,
  Holm-adjusted over the stratum's personas (``PB_pvalue``: the smallest adjusted p-value;
  ``PB_null``: the mean PB of the exchange null, the floor the plug-in PB sits at without
  persona effects). <NA> when undefined (no persona, or ``n_perm=0``). With placebo personas
  (identity-free roles, :mod:`metrics.placebo`; ``n_placebo`` per stratum): ``PB_placebo``
  (their mean PB(p), + ``_lo/_hi``), ``PB_excess_placebo`` = PB - PB_placebo (+ ``_lo/_hi``),
  ``PB_placebo_pvalue`` (exact permutation test of real vs placebo labels); where a stratum
  has at least 2 placebo roles, ``PB_exceeds_floor`` is that test's call instead of the
  exchange test's, and ``floor_test`` ("placebo" or "exchange") says which decided (docs/method.md
  section 8, "The floor"). ``acc_valid``,
  ``s_amb_valid``, ``s_amb_paper_valid`` (+ ``_sd/_lo/_hi``): over valid (not "none")
  answers only (:mod:`metrics.bbq_scores`).
- ``target_bias``: (model, category, context_condition, persona, target): TB, TB_sd, BAmt,
  BAmt_sd, n (responses involving the target, summed over runs), TB_lo, TB_hi, BAmt_lo,
  BAmt_hi, n_runs, TB_pvalue (two-sided test of TB(p->t) = 0 with the bootstrap standard
  error), TB_padj (Benjamini-Hochberg over all (persona, target) cells of the
  stratum; the heatmap hatches cells with TB_padj >= 1 - ci); n_clusters (templates asking
  about the target; the p-value uses Student's t on n_clusters - 1 degrees of freedom).
- ``persona_bias``: (..., persona): PB (NaN for the default), TB = TB(p->T), BAmt =
  BAmt(p->T), each with _sd/_lo/_hi; member_of; n_responses; PB_debiased, TB_debiased;
  PB_pvalue (exchange test of persona p) and PB_padj (Holm over the stratum's personas);
  placebo (True for a placebo role: not in PB), PB_placebo_pvalue (PB(p) against the
  placebo roles' PBs, Student's t prediction test) and PB_placebo_padj (Holm over the
  stratum's real personas); NaN without 2 placebo roles.
- ``bbq_scores``: (..., persona): n_responses; acc, invalid_rate, bias_score, s_dis, s_amb,
  s_amb_paper, each with _sd/_lo/_hi (see :mod:`metrics.bbq_scores`).
- ``ingroup``: (..., persona, member_of): ingroup (+_sd/_lo/_hi), TB_in, TB_out.
- ``shifts``: (..., persona, target): shift = TB(p->t) - TB(default->t) (+_sd/_lo/_hi),
  TB, TB_default, n.
- ``per_run``: (model, category, context_condition, run, persona, target): n, S, A, TB, BAmt.
- ``per_run_persona``: (..., run, persona): n_responses, TB, BAmt, PB, BBQ numbers, ingroup.

CSV files are written with full float precision (shortest round-trip repr) and read back
exactly; the same results always give byte-identical files (the bytes of pandas' ``to_csv``,
formatted column by column: :mod:`metrics.table_text`).
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from .errors import MetricsInputError
from .model_types import TypeThresholds
from .table_text import csv_text

#: The summary's first columns, exactly in this order.
SUMMARY_HEAD: tuple[str, ...] = (
    "model", "category", "context_condition", "TB", "TB_sd", "BAmt", "BAmt_sd", "PB", "PB_sd",
    "PB_floor", "s_dis", "s_amb", "s_amb_paper", "acc", "invalid_rate", "n_responses", "type",
)
#: Tables saved by :meth:`MetricResults.save`, as ``<name>.csv``.
TABLES: tuple[str, ...] = ("summary", "target_bias", "persona_bias", "bbq_scores", "ingroup",
                           "shifts", "per_run", "per_run_persona")
#: Label columns: read back as strings ("" stays "", e.g. the default persona).
_LABELS = ("model", "category", "context_condition", "persona", "target", "member_of")
_CONFIG = "config.json"


@dataclass
class MetricResults:
    """All metric tables of one scoring (see the module documentation for the columns)."""

    summary: pd.DataFrame
    target_bias: pd.DataFrame
    persona_bias: pd.DataFrame
    bbq_scores: pd.DataFrame
    ingroup: pd.DataFrame
    shifts: pd.DataFrame
    per_run: pd.DataFrame
    per_run_persona: pd.DataFrame
    thresholds: TypeThresholds = field(default_factory=TypeThresholds)
    config: dict[str, Any] = field(default_factory=dict)

    def save(self, directory: str | os.PathLike[str]) -> Path:
        """Write every table as CSV plus ``config.json`` (thresholds, w, v, seed, ...).

        Each file is written to a temporary name and renamed, so an interrupted save leaves
        no half-written file. Returns the directory.
        """
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        payload = {name: csv_text(getattr(self, name)) for name in TABLES}  # = to_csv(index=False)
        payload[_CONFIG] = json.dumps({"thresholds": self.thresholds.to_dict(), **self.config},
                                      indent=2, sort_keys=True) + "\n"
        umask = os.umask(0o022)  # mkstemp makes 0600; the tables hold no secret: use the umask's mode
        os.umask(umask)
        for name, text in payload.items():
            target = out / (name if name == _CONFIG else f"{name}.csv")
            fd, tmp = tempfile.mkstemp(dir=out, prefix=f".{target.name}.")
            os.chmod(tmp, 0o666 & ~umask)
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
                fh.write(text)
            os.replace(tmp, target)
        return out

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> "MetricResults":
        """Read back what :meth:`save` wrote."""
        d = Path(directory)
        missing = [n for n in TABLES if not (d / f"{n}.csv").exists()] + \
            ([_CONFIG] if not (d / _CONFIG).exists() else [])
        if missing:
            raise MetricsInputError(f"{d}: missing {missing}. Fix: point at a directory written "
                                    "by MetricResults.save().")
        config = json.loads((d / _CONFIG).read_text(encoding="utf-8"))
        thresholds = TypeThresholds(**config.pop("thresholds"))
        tables = {name: _read_table(d / f"{name}.csv") for name in TABLES}
        return cls(**tables, thresholds=thresholds, config=config)


def _read_table(path: Path) -> pd.DataFrame:
    header = pd.read_csv(path, nrows=0).columns
    labels = [c for c in header if c in _LABELS]
    df = pd.read_csv(
        path,
        dtype={c: str for c in labels},
        keep_default_na=False,
        na_values={c: [""] for c in header if c not in labels},
    )
    if "type" in df.columns:
        df["type"] = df["type"].astype("string")
    if "PB_exceeds_floor" in df.columns:
        df["PB_exceeds_floor"] = df["PB_exceeds_floor"].astype("boolean")
    return df
