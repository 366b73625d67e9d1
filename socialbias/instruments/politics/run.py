"""``run --instrument``: a political study through the package's engines and response store.

Steps: expand the grid (:mod:`.grid`); open ``OUT/responses.sqlite`` and ask the backend only
the prompts without a stored answer (resuming); map every answer from the presented option
back to the instrument's option; score (:mod:`.answers`) and write ``summary.csv``,
``answers.csv``, ``robustness.csv``, ``baselines.csv``, ``figures/`` (:mod:`socialbias.figures.politics`)
and ``run.json`` (docs/method.md section 11; docs/design.md, "an instrument").

Answer modes: ``logprob`` (one forward pass; the probabilities of the option labels ``1..N`` as
the first answer token; choice = argmax; the summary also gives ``score_expected``, the score
expected under those probabilities, valid because the scorings are additive) and ``generate``
(text read by the strict parser :func:`~.answers.parse_option`; unreadable text is invalid and
counted in ``invalid_rate``; ``retries`` re-asks it, a ``judge`` reads free text:
:mod:`.generation`). ``agreement=N`` asks N sampled prompts in the other mode too
(:mod:`.agreement`). Engines: ``hf``, ``vllm``, ``openai`` (:mod:`.engines`).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from ...backends.adapters import variant_label
from ...errors import InputError
from ...records import read_record, write_record
from .answers import parse_option, summarise
from .baselines import constant_answerers, random_baseline
from .cli import baselines_table
from .engines import make_backend
from .grid import expand_instrument, is_open_ended
from .instrument import MISSING_POLICIES, load_instrument
from .robustness import robustness_table


def make_hf_backend(model: str, mode: str, n_options: int, **settings: Any):
    """The hf backend of a study (kept for callers of the first version; see :func:`~.engines.make_backend`)."""
    return make_backend("hf", model, mode, n_options, settings)


def _as_option_answers(answers, prompts_by_id: dict, options) -> list:
    """Backend answers -> OptionAnswers: log-probability answers as they are; text (an engine's
    generate mode) read by the strict political parser against the presented order."""
    from ...store_options import OptionAnswer

    out = []
    for a in answers:
        if isinstance(a, OptionAnswer) and a.parse.startswith("logprob"):
            out.append(a)
            continue
        order = json.loads(prompts_by_id[a.prompt_id]["order"]) if "order" in prompts_by_id[a.prompt_id] else None
        presented = [options[k] for k in order] if order else list(options)
        choice = parse_option(a.text, presented)
        out.append(OptionAnswer(a.prompt_id, a.model_key, choice, (), a.text, "strict" if choice >= 0 else "invalid",
                                a.latency))
    return out


def asker(table, backend, options) -> Callable[[pd.DataFrame], int]:
    """``ask(prompts) -> newly stored``: the prompts ``backend`` has not answered yet, stored as they come."""
    from ...backends.base import prompts_from_table

    def ask(prompts: pd.DataFrame) -> int:
        todo = table.missing(prompts, backend.key)
        if todo.empty:
            return 0
        by_id = prompts.set_index("prompt_id").to_dict("index")
        batch: list = []
        asked = 0
        for answer in backend.answer(prompts_from_table(todo), getattr(backend, "requested_mode", None)
                                     or getattr(backend, "mode", None)):
            batch.append(answer)
            if len(batch) >= 64:
                asked += table.add(_as_option_answers(batch, by_id, options))
                batch = []
        return asked + table.add(_as_option_answers(batch, by_id, options))

    return ask


def answer_table(prompts: pd.DataFrame, stored: pd.DataFrame, model: str, retries: int = 0) -> pd.DataFrame:
    """One row per prompt: the grid's columns, the presented and the instrument's choice, probs;
    with retries, the first readable attempt (``attempts``, ``first_choice`` say how it came)."""
    from .generation import attempts_table

    tried = attempts_table(prompts, stored, retries)
    final = stored.set_index("prompt_id").loc[tried["final_id"], ["choice", "probs", "text", "parse"]]
    final.index = tried["prompt_id"]
    df = prompts.drop(columns=["messages"]).merge(final.reset_index(), on="prompt_id", how="inner")
    orders = [json.loads(o) for o in df["order"]]
    df = df.rename(columns={"choice": "presented_choice"})
    df["choice"] = [o[c] if c >= 0 else -1 for o, c in zip(orders, df["presented_choice"])]
    df["probs"] = [[p[o.index(k)] for k in range(len(o))] if p else [] for o, p in zip(orders, df["probs"])]
    if retries:
        first = dict(zip(tried["prompt_id"], tried["first_presented"]))
        df["attempts"] = df["prompt_id"].map(dict(zip(tried["prompt_id"], tried["attempts"])))
        df["first_choice"] = [o[first[p]] if first[p] >= 0 else -1 for o, p in zip(orders, df["prompt_id"])]
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


def _check(mode: str, missing: str, ci: float, n_boot: int, retries: int, agreement: int, judge: Any,
           variants: Sequence[str]) -> None:
    from .grid import parse_variant

    for v in variants:  # the variant's own error first
        parse_variant(v)
    if mode not in ("logprob", "generate"):
        raise InputError(f"--mode {mode!r}: use logprob or generate")
    if missing not in MISSING_POLICIES:
        raise InputError(f"--missing {missing!r} is unknown; use one of {', '.join(MISSING_POLICIES)}")
    if not 0 < ci < 1 or n_boot < 1:
        raise InputError(f"--ci {ci} / --n-boot {n_boot}: need 0 < ci < 1 and at least one resample")
    if not isinstance(retries, int) or not 0 <= retries <= 10:
        raise InputError(f"--retries {retries!r}: give 0 to 10 retries per unreadable answer")
    if retries and mode != "generate":
        raise InputError("--retries re-asks unreadable text: it needs --mode generate")
    if judge is not None and mode != "generate":
        raise InputError("--judge reads generated text: it needs --mode generate")
    if any(is_open_ended(v) for v in variants) and judge is None:
        raise InputError("open-ended templates (templ-11..templ-20) show no options: give --judge MODEL to read the "
                         "answers, or use templ-01..templ-10")
    if not isinstance(agreement, int) or agreement < 0:
        raise InputError(f"--agreement {agreement!r}: give a number of prompts to ask in both modes")


def run_instrument(instrument: str, model: str, out: str | Path, *, backend: Any = None, engine: str = "hf",
                   mode: str = "logprob", variants: Sequence[str] = ("templ-01/jail-02",), option_orders: str = "fixed",
                   personas: Sequence[str] = ("",), runs: int = 1, limit: int | None = None, seed: int = 0,
                   missing: str = "skip", n_boot: int = 1000, ci: float = 0.95, model_settings: dict | None = None,
                   retries: int = 0, judge: Any = None, agreement: int = 0, agreement_backend: Any = None,
                   progress: bool = False) -> pd.DataFrame:
    """Run (or resume) a political study; returns the summary table.

    ``backend``: an object with the Backend interface, or a list of them (the models of one run,
    e.g. ``hf.variants()``); when None, made with :func:`~.engines.make_backend` for ``engine``
    and ``model_settings``. Settings ``lora={name: path}`` (hf through peft, vllm on one engine)
    and ``edit=DIR`` (hf, :mod:`socialbias.edit`) make the base model and each adapter models of
    the same run, one store and one summary: ``MODEL``, ``MODEL+NAME`` (``MODEL@EDIT...`` when
    edited; docs/model_edits.md), ready for ``compare --paired`` on this one directory.
    ``judge``: a backend in generate mode that reads free text (:mod:`.generation`), or None.
    ``agreement``: prompts asked in the other mode too (``agreement_backend``, made like
    ``backend`` when None; one per model). Everything is validated before a model is loaded."""
    from ...outdir import check_output_dir, staged, writing
    from ...store import ResponseStore
    from ...store_options import OptionResponses

    inst = load_instrument(instrument)
    _check(mode, missing, ci, n_boot, retries, agreement, judge, variants)
    prompts = expand_instrument(inst, variants=variants, option_orders=option_orders, personas=personas, runs=runs,
                                limit=limit, seed=seed)
    check_output_dir(out)
    previous = read_record(out) if Path(out).is_dir() else None
    if previous is not None and (previous.kind != "run" or previous.instrument != inst.id):
        raise InputError(f"{out} holds the {previous.kind} output of the instrument {previous.instrument!r}, not a run "
                         f"of {inst.id!r} to resume: choose another --out directory")
    settings = dict(model_settings or {})
    with writing(out, "run") as target:
        store = ResponseStore.open(target)
        try:
            table = OptionResponses(store)
            if backend is None:
                backend = make_backend(engine, model, mode, len(inst.options), settings)
            models = _models(backend, settings)
            frames, entries, asked = [], [], 0
            others = None if agreement_backend is None else _models(agreement_backend, {})
            if others is not None and len(others) != len(models):
                raise InputError(f"agreement_backend: {len(others)} models for the {len(models)} of the run; give "
                                 "one per model (a list in the same order)")
            for k, member in enumerate(models):
                label = variant_label(model, member)
                entry = {"model": label, "model_key": member.key, "adapter": getattr(member, "adapter", None)}
                if agreement and others is None:
                    other_mode = "generate" if mode == "logprob" else "logprob"
                    other_settings = {key: v for key, v in settings.items() if key != "decoding"}
                    others = _models(make_backend(engine, model, other_mode, len(inst.options), other_settings,
                                                  like=member), other_settings)
                answers, n, entry["judge_key"], entry["agreement_key"] = _measure(
                    inst, prompts, table, member, label, mode, retries, judge, agreement, seed,
                    others[k] if others else None)
                asked += n
                frames.append(answers)
                entries.append(entry)
        finally:
            store.close()
        answers = pd.concat(frames, ignore_index=True)
        record = {"command": "run", "instrument": inst.id, "model": entries[0]["model"],
                  "model_key": entries[0]["model_key"], "engine": engine, "mode": mode, "variants": list(variants),
                  "option_orders": option_orders, "personas": list(personas), "runs": runs, "limit": limit,
                  "seed": seed, "missing": missing, "n_boot": n_boot, "ci": ci, "retries": retries,
                  "judge_key": entries[0]["judge_key"], "agreement": agreement,
                  "agreement_key": entries[0]["agreement_key"], "n_prompts": len(prompts), "newly_answered": asked,
                  "n_answers": len(answers), "n_invalid": int((answers["choice"] < 0).sum())}
        if len(entries) > 1 or entries[0]["model"] != model:
            record["models"] = entries  # base and adapters (or an edited model): one store, one summary
        summary = _summary(inst, answers, missing, n_boot, ci, seed, retries, judge is not None)
        with staged(target, prefix="staging", command="run") as staging:  # all files, or none on error
            _write(staging, inst, answers, summary, record, ci, seed, agreement)
    return summary


def _models(backend: Any, settings: dict) -> list:
    """The models one run measures: a list as given; a backend made with ``lora`` adapters as its
    base model and then each adapter (:meth:`variants`, sharing the weights or the vLLM engine);
    any other backend as itself."""
    if isinstance(backend, (list, tuple)):
        if not backend:
            raise InputError("backend=[]: give at least one backend")
        return list(backend)
    if settings.get("lora") and hasattr(backend, "variants"):
        return list(backend.variants())
    return [backend]


def _measure(inst, prompts: pd.DataFrame, table, backend: Any, label: str, mode: str, retries: int, judge: Any,
             agreement: int, seed: int, other: Any) -> tuple[pd.DataFrame, int, str | None, str | None]:
    """One model's answers (asked where missing, re-asked, judged, and a sample asked in the other
    mode by ``other``): the answer table, how many prompts were newly answered, the judge's and
    the other mode's model keys."""
    ask = asker(table, backend, inst.options)
    asked = ask(prompts)
    if retries:
        from .generation import ask_retries

        asked += ask_retries(prompts, lambda: table.frame(backend.key), ask, retries)
    answers = answer_table(prompts, table.frame(backend.key), label, retries)
    judged = None
    if judge is not None:
        from .generation import NO_STANCE, judge_answers

        answers = judge_answers(answers, inst, asker(table, judge, [*inst.options, NO_STANCE]), judge.key,
                                lambda: table.frame(judge.key))
        judged = judge.key
    agree_key = None
    if agreement:
        from .agreement import add_choices, other_choices, sample_prompts

        sample = sample_prompts(prompts, agreement, seed)
        asker(table, other, inst.options)(sample)
        agree_key = other.key
        answers = add_choices(answers, mode, other_choices(sample, table.frame(agree_key), inst.options))
    return answers, asked, judged, agree_key


def _summary(inst, answers: pd.DataFrame, missing: str, n_boot: int, ci: float, seed: int, retries: int,
             judged: bool) -> pd.DataFrame:
    rates = {}
    scored = answers
    if retries:
        scored = scored.assign(first_invalid=scored["first_choice"] < 0)
        rates["invalid_rate_first"] = "first_invalid"
    if judged:
        scored = scored.assign(no_stance=scored["parse"] == "judge:no-stance")
        rates["no_stance_rate"] = "no_stance"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        baseline = random_baseline(inst, level=ci, seed=seed)
        summary = summarise(scored, inst, missing=missing, n_boot=n_boot, ci=ci, seed=seed, baseline=baseline,
                            rates=rates)
    expected = expected_scores(inst, answers)
    if expected:
        persona_col = summary["persona"] if "persona" in summary.columns else pd.Series("", index=summary.index)
        axis_pos = {a: j for j, a in enumerate(inst.all_axes)}
        summary["score_expected"] = [expected.get((m, p), np.full(len(axis_pos), np.nan))[axis_pos[a]]
                                     for m, p, a in zip(summary["model"], persona_col, summary["axis"])]
    return summary


def _write(target: Path, inst, answers: pd.DataFrame, summary: pd.DataFrame, record: dict, ci: float, seed: int,
           agreement: int) -> None:
    """Every output file of a run into the staged directory ``target``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        baseline = random_baseline(inst, level=ci, seed=seed)
    answers.assign(probs=[json.dumps(p) for p in answers["probs"]]).to_csv(target / "answers.csv", index=False)
    summary.to_csv(target / "summary.csv", index=False)
    baselines_table(inst, baseline).to_csv(target / "baselines.csv", index=False)
    robustness_table(answers, inst).to_csv(target / "robustness.csv", index=False)
    if agreement:
        from .agreement import agreement_table

        agree = agreement_table(answers, len(inst.options), level=ci)
        agree.to_csv(target / "agreement.csv", index=False)
        record["agreement_summary"] = agree.to_dict("records")
    from ...figures.politics import write_figures

    write_figures(target, summary, inst, record=record, answers=answers, baseline=baseline,
                  constants=constant_answerers(inst))
    write_record(target, "run", record)
