"""``run --instrument``: a political study through the package's engines and response store.

Steps: expand the grid (:mod:`.grid`); open ``OUT/responses.sqlite`` and ask the backend only
the prompts without a stored answer (resuming); map every answer from the presented option
back to the instrument's option; score (:mod:`.answers`) and write ``summary.csv``,
``answers.csv``, ``robustness.csv``, ``baselines.csv``, ``figures/`` (:mod:`socialbias.figures.politics`)
and ``run.json``.

Answer modes: ``logprob`` (one forward pass; the probabilities of the option labels ``1..N`` as
the first answer token; choice = argmax; the summary also gives ``score_expected``, the score
expected under those probabilities, valid because the scorings are additive) and ``generate``
(text read by the strict parser :func:`~.answers.parse_option`; unreadable text is invalid and
counted in ``invalid_rate``). Engines: ``hf`` (transformers). vLLM and OpenAI-compatible
servers are not wired to N-option scoring yet.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from ...errors import InputError
from .answers import parse_option, summarise
from .baselines import random_baseline
from .cli import baselines_table
from .grid import expand_instrument
from .instrument import MISSING_POLICIES, load_instrument
from .robustness import robustness_table


def _labels(n: int) -> list[str]:
    return [str(k) for k in range(1, n + 1)]


def make_hf_backend(model: str, mode: str, n_options: int, **settings: Any):
    from ...backends.hf import HFBackend

    return HFBackend(model, mode=mode, labels=_labels(n_options) if mode == "logprob" else None, **settings)


def _as_option_answers(answers, prompts_by_id: dict, options) -> list:
    """Backend answers -> OptionAnswers (generate: text read by the strict political parser)."""
    from ..option_store import OptionAnswer

    out = []
    for a in answers:
        if isinstance(a, OptionAnswer):
            out.append(a)
            continue
        order = json.loads(prompts_by_id[a.prompt_id]["order"])
        presented = [options[k] for k in order]
        choice = parse_option(a.text, presented)
        out.append(OptionAnswer(a.prompt_id, a.model_key, choice, (), a.text, "strict" if choice >= 0 else "invalid",
                                a.latency))
    return out


def answer_table(prompts: pd.DataFrame, stored: pd.DataFrame, model: str) -> pd.DataFrame:
    """One row per prompt: the grid's columns, the presented and the instrument's choice, probs."""
    df = prompts.drop(columns=["messages"]).merge(stored[["prompt_id", "choice", "probs", "text", "parse"]],
                                                  on="prompt_id", how="inner")
    orders = [json.loads(o) for o in df["order"]]
    df = df.rename(columns={"choice": "presented_choice"})
    df["choice"] = [o[c] if c >= 0 else -1 for o, c in zip(orders, df["presented_choice"])]
    df["probs"] = [[p[o.index(k)] for k in range(len(o))] if p else [] for o, p in zip(orders, df["probs"])]
    df.insert(0, "model", model)
    return df


def expected_scores(inst, table: pd.DataFrame) -> dict[tuple[str, str], np.ndarray]:
    """(model, persona) -> expected scores over all axes from mean option probabilities per item."""
    index = {it.id: i for i, it in enumerate(inst.items)}
    out = {}
    for key, group in table[table["probs"].map(len) > 0].groupby(["model", "persona"]):
        probs = np.zeros((len(inst.items), len(inst.options)))
        answered = np.zeros(len(inst.items), dtype=bool)
        for item, g in group.groupby("item"):
            probs[index[item]] = np.mean(np.stack(g["probs"].to_list()), axis=0)
            answered[index[item]] = True
        scores = inst.score_expected(probs, answered)
        out[key] = np.array([scores[a] for a in inst.all_axes])
    return out


def run_instrument(instrument: str, model: str, out: str | Path, *, backend: Any = None, mode: str = "logprob",
                   variants: Sequence[str] = ("templ-01/jail-02",), option_orders: str = "fixed",
                   personas: Sequence[str] = ("",), runs: int = 1, limit: int | None = None, seed: int = 0,
                   missing: str = "skip", n_boot: int = 1000, ci: float = 0.95, model_settings: dict | None = None,
                   progress: bool = False) -> pd.DataFrame:
    """Run (or resume) a political study; returns the summary table. ``backend``: an object with
    the Backend interface (built with :func:`make_hf_backend` when None). Everything is
    validated before a model is loaded."""
    from ...outdir import check_output_dir, writing
    from ...store import ResponseStore
    from ..option_store import OptionResponses

    inst = load_instrument(instrument)
    if mode not in ("logprob", "generate"):
        raise InputError(f"--mode {mode!r}: use logprob or generate")
    if missing not in MISSING_POLICIES:
        raise InputError(f"--missing {missing!r} is unknown; use one of {', '.join(MISSING_POLICIES)}")
    if not 0 < ci < 1 or n_boot < 1:
        raise InputError(f"--ci {ci} / --n-boot {n_boot}: need 0 < ci < 1 and at least one resample")
    prompts = expand_instrument(inst, variants=variants, option_orders=option_orders, personas=personas, runs=runs,
                                limit=limit, seed=seed)
    check_output_dir(out)
    with writing(out, "run") as target:
        store = ResponseStore.open(target)
        try:
            table = OptionResponses(store)
            if backend is None:
                backend = make_hf_backend(model, mode, len(inst.options), **(model_settings or {}))
            from ...backends.base import prompts_from_table

            todo = table.missing(prompts, backend.key)
            by_id = prompts.set_index("prompt_id").to_dict("index")
            batch: list = []
            asked = 0
            for answer in backend.answer(prompts_from_table(todo), mode):
                batch.append(answer)
                if len(batch) >= 64:
                    asked += table.add(_as_option_answers(batch, by_id, inst.options))
                    batch = []
            asked += table.add(_as_option_answers(batch, by_id, inst.options))
            stored = table.frame(backend.key)
        finally:
            store.close()
        answers = answer_table(prompts, stored, model)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            baseline = random_baseline(inst, level=ci, seed=seed)
            summary = summarise(answers, inst, missing=missing, n_boot=n_boot, ci=ci, seed=seed, baseline=baseline)
        expected = expected_scores(inst, answers)
        if expected:
            persona_col = summary["persona"] if "persona" in summary.columns else pd.Series("", index=summary.index)
            axis_pos = {a: j for j, a in enumerate(inst.all_axes)}
            summary["score_expected"] = [expected.get((m, p), np.full(len(axis_pos), np.nan))[axis_pos[a]]
                                         for m, p, a in zip(summary["model"], persona_col, summary["axis"])]
        record = {"command": "run", "instrument": inst.id, "model": model, "model_key": backend.key, "mode": mode,
                  "variants": list(variants), "option_orders": option_orders, "personas": list(personas), "runs": runs,
                  "limit": limit, "seed": seed, "missing": missing, "n_boot": n_boot, "ci": ci,
                  "n_prompts": len(prompts), "newly_answered": asked, "n_answers": len(answers),
                  "n_invalid": int((answers["choice"] < 0).sum())}
        answers.assign(probs=[json.dumps(p) for p in answers["probs"]]).to_csv(target / "answers.csv", index=False)
        summary.to_csv(target / "summary.csv", index=False)
        baselines_table(inst, baseline).to_csv(target / "baselines.csv", index=False)
        robustness_table(answers, inst).to_csv(target / "robustness.csv", index=False)
        from ...figures.politics import write_figures

        write_figures(target, summary, inst, record=record, answers=answers, baseline=baseline)
        (target / "run.json").write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    return summary
