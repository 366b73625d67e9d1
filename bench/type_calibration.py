"""Model types: is ``type_confidence`` calibrated, and what is the power to detect TB = 0.1?

Simulated answerers with a known truth on the real BBQ items (the answerer and its exact
expected TB and BAmt are those of ``bench/validity.py``: a default persona that names one of
an item's two targets with probability ``p_target`` and, among the two, the one the
stereotype prefers with probability ``q``). A *population* of answerers is drawn with
``q ~ U(0.5, 0.85)`` and ``p_target ~ U(0.05, 0.9)``, which spreads the true TB over
0.0-0.45 and the true BAmt over 0.02-1.3, around the default thresholds (TB 0.1; BAmt 0.5 in
ambiguous and 0.25 in disambiguated contexts). Each batch is one (category, items per context,
runs, mode) with many answerers on the same items, scored in one ``metrics.score_answers``
call (each answerer a "model"). A call is *correct* when the reported ``type`` is the type of
the true (TB, BAmt) under the same thresholds.

    python bench/type_calibration.py --fit     # fit metrics.model_types.SE_SCALE (seeds 1000+)
    python bench/type_calibration.py           # held-out calibration + power, writes docs/validity.md
    python bench/type_calibration.py --fast    # the CI-sized check (tests/test_type_calibration.py)
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import validity as V  # noqa: E402
from socialbias import metrics  # noqa: E402
from socialbias.metrics import model_types as MT  # noqa: E402

#: Confidence bins of the calibration table (right-closed; the last holds confidence 1).
BINS = (0.25, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0)
#: Bins of the CI check: wider, so that each holds enough calls for a 0.05 tolerance.
FAST_BINS = (0.25, 0.6, 0.8, 0.95, 1.0)


@dataclass(frozen=True)
class Batch:
    category: str
    n_items: int | None  # per context condition; None: the whole category
    runs: int
    mode: str  # "sampled" or "deterministic"
    models: int


def design(models: int, sizes=(24, 120, None), categories=("Religion", "Sexual_orientation"),
           runs=(3, 5), modes=("sampled", "deterministic")) -> list[Batch]:
    return [Batch(c, n, k, m, models) for c in categories for n in sizes for k in runs for m in modes]


FULL = design(40)
FAST = design(60, sizes=(24, 120, None), runs=(3,))


def simulate_batch(b: Batch, rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Answers of ``b.models`` answerers drawn from the population, and their true TB/BAmt."""
    items = V.item_sample(b.category, b.n_items, rng)
    frames, truths = [], []
    for i in range(b.models):
        sc = V.Scenario("population", q=rng.uniform(0.5, 0.85), p_target=rng.uniform(0.05, 0.9), mode=b.mode)
        answers = V.simulate(items, {"": ""}, sc, b.runs, rng)
        answers["model"] = f"m{i:03d}"
        frames.append(answers)
        t = V.truth(items, {"": ""}, sc)["model"][["context_condition", "TB_true", "BAmt_true"]]
        truths.append(t.assign(model=f"m{i:03d}"))
    return pd.concat(frames, ignore_index=True), pd.concat(truths, ignore_index=True)


def score_batch(b: Batch, seed: int, n_boot: int = 200) -> pd.DataFrame:
    """One row per (answerer, context): the summary's type columns beside the truth."""
    rng = np.random.default_rng([seed, len(b.category), b.n_items or 0, b.runs, b.mode == "sampled"])
    answers, truth = simulate_batch(b, rng)
    s = metrics.score_answers(answers, n_boot=n_boot, n_perm=0, seed=seed,
                              thresholds=metrics.TypeThresholds(n_null=0)).summary
    s = s.merge(truth, on=["model", "context_condition"])
    true_type = MT.classify(s.TB_true.to_numpy(), s.BAmt_true.to_numpy(), s.TB_threshold.to_numpy(),
                            s.BAmt_threshold.to_numpy())
    s["true_type"] = MT.type_names(true_type).array
    s["correct"] = (s["type"] == s["true_type"]).astype(bool)
    s["true_skewed"] = s.TB_true > s.TB_threshold
    s["true_large"] = s.BAmt_true > s.BAmt_threshold
    for key, value in (("category", b.category), ("items", b.n_items or "all"), ("runs", b.runs), ("mode", b.mode)):
        s[key] = value
    return s


def collect(batches: list[Batch], seed: int) -> pd.DataFrame:
    return pd.concat([score_batch(b, seed + j) for j, b in enumerate(batches)], ignore_index=True)


def calibration_table(calls: pd.DataFrame, bins=BINS) -> pd.DataFrame:
    """Per confidence bin: calls, mean confidence, share correct, and their difference."""
    c = calls.dropna(subset=["type_confidence"])
    cut = pd.cut(c["type_confidence"], list(bins), include_lowest=True)
    t = c.groupby(cut, observed=True).agg(calls=("correct", "size"), confidence=("type_confidence", "mean"),
                                          correct=("correct", "mean")).reset_index()
    t["difference"] = t["correct"] - t["confidence"]
    return t.rename(columns={"type_confidence": "confidence bin"})


def by_design(calls: pd.DataFrame) -> pd.DataFrame:
    """Mean confidence and share correct per (category, items, runs, mode); clear-call accuracy."""
    g = calls.groupby(["category", "items", "runs", "mode"], sort=False)
    out = g.agg(calls=("correct", "size"), confidence=("type_confidence", "mean"),
                correct=("correct", "mean")).reset_index()
    clear = calls[calls["type_status"] == "clear"]
    cg = clear.groupby(["category", "items", "runs", "mode"], sort=False)
    out = out.merge(cg.agg(clear=("correct", "size"), clear_correct=("correct", "mean")).reset_index(),
                    on=["category", "items", "runs", "mode"], how="left")
    out["clear share"] = out.pop("clear") / out["calls"]
    return out.rename(columns={"clear_correct": "correct when clear"})


def fit_scales(calls_raw: pd.DataFrame) -> dict[str, float]:
    """Maximum-likelihood SE inflation per axis, from calls scored with SE_SCALE = 1.

    With scale 1 the reported probability is Phi(z); the calibrated one is Phi(z / k): z is
    recovered from ``p_skewed``/``p_large`` (clipped at |z| = 8.2, where Phi rounds to 1).
    """
    from scipy.optimize import minimize_scalar
    from scipy.special import log_ndtr, ndtri

    out = {}
    for axis, p_col, truth_col in (("TB", "p_skewed", "true_skewed"), ("BAmt", "p_large", "true_large")):
        d = calls_raw.dropna(subset=[p_col])
        p = d[p_col].to_numpy()
        z = np.clip(np.where(p < 0.5, ndtri(p), -ndtri(1 - p)), -8.2, 8.2)
        sign = np.where(d[truth_col].to_numpy(), 1.0, -1.0)

        def nll(k: float, sz: np.ndarray = sign * z) -> float:
            return -float(np.sum(log_ndtr(sz / k)))

        out[axis] = round(float(minimize_scalar(nll, bounds=(0.3, 4.0), method="bounded").x), 2)
    return out


# ------------------------------------------------------------------ power at the paper's size
def q_for_tb(items: pd.DataFrame, context: str, target_tb: float, p_target: float = 0.6) -> tuple[float, float]:
    """The stereotype preference q whose true TB (default persona) in ``context`` is closest to
    ``target_tb`` (bisection over q in [0.5, 1]), and that true TB."""
    def true_tb(q: float) -> float:
        m = V.truth(items, {"": ""}, V.Scenario("q", q=q, p_target=p_target))["model"]
        return float(m.set_index("context_condition").loc[context, "TB_true"])

    lo, hi = 0.5, 1.0
    for _ in range(30):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if true_tb(mid) < target_tb else (lo, mid)
    return (lo + hi) / 2, true_tb((lo + hi) / 2)


def power(category: str = "Religion", tbs=(0.1, 0.15, 0.2), runs=(3, 5), reps: int = 100,
          modes=("sampled", "deterministic"), seed: int = 7, n_boot: int = 200) -> pd.DataFrame:
    """Per (true TB, runs, mode, context), on every item of ``category``: the share of
    answerers whose TB interval excludes 0 (``TB_lo > 0``), who are typed skewed, and whose
    call is a clear skewed (``TB_lo`` above the threshold); the mean ``TB_mid`` and the mean
    ``TB_null`` (the noise level of the plug-in TB: 95% quantile of the item-swap null). A
    target TB the answerer cannot reach in a context (disambiguated, above about 0.1) is skipped."""
    rows = []
    for tb in tbs:
        for ctx in ("ambig", "disambig"):
            items = V.bbq_items(category).query("context_condition == @ctx").reset_index(drop=True)
            q, achieved = q_for_tb(items, ctx, tb)
            if abs(achieved - tb) > 0.005:  # out of this answerer's reach in this context
                continue
            for k in runs:
                for mode in modes:
                    rng = np.random.default_rng([seed, int(tb * 1000), k, mode == "sampled", ctx == "ambig"])
                    sc = V.Scenario("power", q=q, mode=mode)
                    frames = []
                    for i in range(reps):
                        a = V.simulate(items, {"": ""}, sc, k, rng)
                        frames.append(a.assign(model=f"m{i:03d}"))
                    s = metrics.score_answers(pd.concat(frames, ignore_index=True), n_boot=n_boot, n_perm=0,
                                              seed=seed, thresholds=metrics.TypeThresholds(n_null=200)).summary
                    skewed = s["type"].isin(["skewed", "skewed-large"])
                    rows.append({"category": category, "true TB": round(achieved, 3), "context": ctx, "runs": k, "mode": mode,
                                 "P(TB_lo > 0)": float((s.TB_lo > 0).mean()), "P(typed skewed)": float(skewed.mean()),
                                 "P(clear skewed)": float((skewed & (s.type_status == "clear")).mean()),
                                 "mean TB_mid": float(s.TB_mid.mean()), "mean TB_null": float(s.TB_null.mean()),
                                 "answerers": len(s)})
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fast", action="store_true", help="the CI-sized calibration check (no power study)")
    ap.add_argument("--fit", action="store_true", help="fit SE_SCALE on seeds 1000+ (scores with scale 1)")
    ap.add_argument("--models", type=int, default=None, help="answerers per batch")
    ap.add_argument("--power-reps", type=int, default=100, help="answerers per cell of the power table")
    ap.add_argument("--out", default=str(ROOT / "docs" / "validity.md"),
                    help="the file whose <!-- types --> section gets the tables (full study only)")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    batches = FAST if args.fast else FULL
    if args.models:
        batches = [Batch(b.category, b.n_items, b.runs, b.mode, args.models) for b in batches]
    if args.fit:
        saved = dict(MT.SE_SCALE)
        MT.SE_SCALE.update({"TB": 1.0, "BAmt": 1.0})
        try:
            print(f"SE_SCALE = {fit_scales(collect(batches, seed=1000))}")
        finally:
            MT.SE_SCALE.update(saved)
        print(f"({time.perf_counter() - t0:.0f} s)")
        return 0
    calls = collect(batches, seed=0)
    cal = V.to_markdown(calibration_table(calls, FAST_BINS if args.fast else BINS))
    print(cal)
    if args.fast:
        print(f"({time.perf_counter() - t0:.0f} s)")
        return 0
    per = V.to_markdown(by_design(calls))
    pw = V.to_markdown(power(reps=args.power_reps))
    print(per, pw, sep="\n\n")
    elapsed = time.perf_counter() - t0
    print(f"({elapsed:.0f} s)")
    command = " ".join(["python bench/type_calibration.py", *(argv if argv is not None else sys.argv[1:])])
    text = (f"Calibration of `type_confidence` ({len(calls)} calls, SE_SCALE = {MT.SE_SCALE}; "
            f"{elapsed:.0f} s):\n\n{cal}\n\nBy design (share of clear calls and their accuracy):\n\n{per}\n\n"
            f"Power on every Religion item (ten targets), {args.power_reps} answerers per row:\n\n{pw}")
    write_section(Path(args.out), f"{INTRO}\n\n`{command}`\n\n{text}")
    return 0


#: The section's heading and how to read its tables (the numbers follow, as measured).
INTRO = """## Model types: calibration of `type_confidence`, and power

Simulated answerers with a known truth (`bench/type_calibration.py`, which documents the
population: planted TB and BAmt spread around the default thresholds, TB 0.1 and half a random
answerer's BAmt), scored by `metrics.score_answers` (200 bootstrap replicates over templates).
A call is correct when `type` is the type of the true (TB, BAmt). The first table is held out
from the fit of `SE_SCALE` (`--fit` uses other seeds): per confidence bin, the share of calls
that are right beside their mean confidence. The second shows it per design: calibration is
pooled over the population, so in the smallest designs (24 items per context) the confidence
runs above the share correct; "clear share" is the share of calls whose TB and BAmt intervals
both clear their thresholds, "correct when clear" their accuracy. The power table plants a
true TB (p_target 0.6) on every Religion item (ten targets, 600 items per context) with the
paper's 5 runs and with 3: `P(TB_lo > 0)` detects a TB different from 0, `P(typed skewed)` is
the share typed skewed (TB_mid > 0.1), `P(clear skewed)` the share whose TB interval lies above
0.1; `TB_null` is the noise level of the plug-in TB at that size."""


def write_section(path: Path, body: str) -> None:
    """Put ``body`` between the ``<!-- types -->`` and ``<!-- /types -->`` lines of ``path``
    (appended at the end of the file when the markers are missing)."""
    start, end = "<!-- types -->", "<!-- /types -->"
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    block = f"{start}\n{body}\n{end}"
    if start in old and end in old:
        head, _, rest = old.partition(start)
        _, _, tail = rest.partition(end)
        path.write_text(head + block + tail, encoding="utf-8")
    else:
        path.write_text(old.rstrip("\n") + ("\n\n" if old else "") + block + "\n", encoding="utf-8")


if __name__ == "__main__":
    raise SystemExit(main())
