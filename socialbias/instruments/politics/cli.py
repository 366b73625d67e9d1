"""``score --instrument ID|FILE ANSWERS.jsonl``: the political scoring front door.

Writes into ``--out`` (staged, only into a directory socialbias owns, see :mod:`socialbias.outdir`):
``summary.csv`` (:data:`~.answers.SUMMARY_COLUMNS`, plus ``persona`` when the answers have
personas, ``n_answers`` and ``n_missing_items``), ``baselines.csv`` (the random answerer's exact
mean and sd and Monte Carlo region per axis, and each constant answerer's scores) and
``score.json`` (settings and counts) and ``figures/`` (axis bars; a compass for two- or three-axis
instruments).
"""

from __future__ import annotations

import warnings

import pandas as pd

from .answers import read_answers, summarise
from .baselines import constant_answerers, random_baseline
from ...errors import InputError
from .instrument import load_instrument


def baselines_table(inst, baseline) -> pd.DataFrame:
    """Random answerer (mean, sd, lo, hi) and constant answerers, one row per answerer and axis."""
    rows = [{"answerer": "random", "axis": a, "score": v["mean"], "sd": v["sd"], "lo": v["lo"], "hi": v["hi"]}
            for a, v in baseline.as_dict().items()]
    for name, scores in constant_answerers(inst).items():
        rows += [{"answerer": name, "axis": a, "score": s} for a, s in scores.items()]
    return pd.DataFrame(rows)


def score_instrument(instrument: str, path: str, out: str, missing: str = "skip", n_boot: int = 1000,
                     ci: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """Read, score and write; returns the summary table. Everything is validated before writing."""
    from ...outdir import check_output_dir, staged
    from ...records import write_record

    check_output_dir(out)
    inst = load_instrument(instrument)
    answers = read_answers(path, inst)
    baseline = random_baseline(inst, level=ci, seed=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        summary = summarise(answers, inst, missing=missing, n_boot=n_boot, ci=ci, seed=seed, baseline=baseline)
    meta = {"command": "score", "instrument": inst.id, "instrument_name": inst.name, "licence": inst.licence,
            "answers": str(path), "missing": missing, "n_boot": n_boot, "ci": ci, "seed": seed,
            "n_answers": int(len(answers)), "n_invalid": int((answers["choice"] < 0).sum()),
            "models": sorted(answers["model"].unique())}
    with staged(out, prefix="scoring", command="score") as staging:
        summary.to_csv(staging / "summary.csv", index=False)
        baselines_table(inst, baseline).to_csv(staging / "baselines.csv", index=False)
        write_record(staging, "score", meta)
        from ...figures.politics import write_figures

        variants = sorted(set(answers["variant"]) - {""}) or ["(not recorded)"]
        write_figures(staging, summary, inst, record={"mode": "given answers", "variants": variants, "ci": ci,
                                                      "option_orders": "as recorded"}, baseline=baseline,
                      constants=constant_answerers(inst))
    return summary


def _engine_settings(args) -> dict:
    """The engine settings of ``run`` flags that the chosen backend takes (:data:`~.engines.SETTINGS`)."""
    import os

    given = {"device": args.device, "dtype": args.dtype, "revision": args.revision, "template": args.template,
             "max_batch_tokens": args.max_batch_tokens, "max_model_len": args.max_model_len,
             "tensor_parallel_size": args.tensor_parallel_size, "gpu_memory_utilization": args.gpu_memory_utilization,
             "base_url": args.base_url or (os.environ.get("OPENAI_BASE_URL") if args.backend == "openai" else None),
             "api_key_env": args.api_key_env, "api_key_file": args.api_key_file, "concurrency": args.concurrency,
             "timeout": args.request_timeout, "max_retries": args.max_retries,
             "edit": getattr(args, "edit", None)}
    from ...backends.base import parse_lora
    from .engines import SETTINGS

    given["lora"] = parse_lora(getattr(args, "lora", None))
    engine = args.backend or "hf"
    wrong = [k for k, v in given.items() if v is not None and k not in SETTINGS.get(engine, set())]
    if wrong:
        flags = ", ".join("--" + k.replace("_", "-").replace("timeout", "request-timeout") for k in wrong)
        raise InputError(f"{flags}: not a setting of the {engine} backend; drop it or choose another --backend")
    return {k: v for k, v in given.items() if v is not None}


def _judge(args):
    """The judge backend of ``--judge MODEL`` (an OpenAI-compatible server, generate mode, greedy), or None."""
    if not args.judge:
        for flag, value in (("--judge-base-url", args.judge_base_url), ("--judge-api-key-env", args.judge_api_key_env)):
            if value:
                raise InputError(f"{flag} is a setting of --judge: give --judge MODEL too, or drop it")
        return None
    import os

    from ...backends.base import Decoding
    from ...backends.openai import DEFAULT_BASE_URL, OpenAIBackend

    return OpenAIBackend(args.judge, args.judge_base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL,
                         mode="generate", decoding=Decoding(temperature=0.0, max_tokens=8),
                         api_key_env=args.judge_api_key_env or "OPENAI_API_KEY")


def score(args) -> int:
    """``score --instrument ID|FILE``: answers to a political instrument -> summary.csv (the registry's
    front door, :mod:`socialbias.instruments.registry`)."""
    summary = score_instrument(args.instrument, args.path, args.out, missing=args.missing, n_boot=args.n_boot,
                               ci=args.ci, seed=args.seed)
    if not args.quiet:
        print(summary.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    print(f"wrote {args.out}/: summary.csv, baselines.csv, score.json")
    return 0


def cmd_run_instrument(args, demo_model=None) -> int:
    """``run --instrument``: the CLI face of :func:`~.run.run_instrument` (hf, vllm and openai backends)."""
    from .run import run_instrument

    bbq_only = {"--config": "config", "--categories": "categories", "--instructions": "instructions",
                "--option-orders": "option_orders", "--executor": "executor",
                "--dataset-option": "dataset_options"}
    given = [flag for flag, name in bbq_only.items() if getattr(args, name, None) is not None]
    if given:
        raise InputError(f"run --instrument does not use {', '.join(given)} (BBQ settings); drop them "
                         "(instrument runs take --variants, --scale-orders, --personas, --runs, --limit)")
    engine = args.backend or "hf"
    if engine not in ("hf", "vllm", "openai"):
        raise InputError(f"--instrument runs on the hf, vllm and openai backends, not {engine!r}")
    model = args.model or (demo_model() if demo_model else None)
    if not model:
        raise InputError("run --instrument needs --model (a hub id, local directory or served model name) or --demo")
    personas = [""]
    if args.personas:
        from ...personas import load_personas

        names = list(load_personas("paper")["persona"]) if args.personas == "paper" else \
            [n.strip() for n in args.personas.split(",") if n.strip()]
        personas += [n for n in names if n]
    variants = [v.strip() for v in (args.variants or "templ-01/jail-02").split(",") if v.strip()]
    settings = _engine_settings(args)
    mode = args.mode or "logprob"
    if mode == "generate":
        from ...backends.base import Decoding

        settings["decoding"] = Decoding(temperature=args.temperature or 0.0, top_p=args.top_p or 1.0,
                                            max_tokens=args.max_tokens or 16, seed=args.seed or 0)
    out = args.out or f"runs/{args.instrument.rsplit('/', 1)[-1].removesuffix('.json')}"
    summary = run_instrument(args.instrument, model, out, engine=engine, mode=mode, variants=variants,
                             option_orders=args.scale_orders or "fixed", personas=personas, runs=args.runs or 1,
                             limit=args.limit, seed=args.seed or 0, missing=args.missing or "skip",
                             n_boot=args.n_boot or 1000, ci=args.ci or 0.95, model_settings=settings,
                             retries=args.retries or 0, judge=_judge(args), agreement=args.agreement or 0)
    if not args.quiet:
        print(summary.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    extra = ", agreement.csv" if args.agreement else ""
    print(f"wrote {out}/: summary.csv, answers.csv, robustness.csv, baselines.csv{extra}, figures/, run.json, "
          "responses.sqlite")
    return 0


#: ``run --instrument ID|FILE``: the registry's name for :func:`cmd_run_instrument`.
run = cmd_run_instrument
