"""The BBQ persona QA instrument's command-line front doors: ``run``, ``score`` and ``prompts``.

:mod:`socialbias.eval` parses the flags and dispatches ``run`` and ``score`` through the
instrument registry (:mod:`socialbias.instruments.registry`): BBQ persona QA is the default
instrument (``run`` = ``run --instrument bbq``), the political instruments have theirs in
:mod:`socialbias.instruments.politics.cli`. These front doors sit above the pipeline, the scorer
and the report in the import chain (docs/design.md), which is why they are not in
``socialbias/instruments/bbq/`` with the instrument's other parts.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Callable, Sequence

from .demo import demo_model_path
from .errors import InputError

#: Flags of ``run`` that only the political instruments take (flag -> argparse dest).
POLITICAL_ONLY = {"--variants": "variants", "--scale-orders": "scale_orders", "--runs": "runs", "--missing": "missing",
                  "--retries": "retries", "--judge": "judge", "--judge-base-url": "judge_base_url",
                  "--judge-api-key-env": "judge_api_key_env", "--agreement": "agreement"}


def parse_instruction_range(text: str) -> list[int]:
    """``"0-4"`` -> [0, 1, 2, 3, 4]; ``"0,2"`` -> [0, 2]."""
    out: list[int] = []
    try:
        for part in text.split(","):
            part = part.strip()
            if "-" in part:
                lo, hi = part.split("-", 1)
                out.extend(range(int(lo), int(hi) + 1))
            elif part:
                out.append(int(part))
    except ValueError:
        raise InputError(f"--instructions {text!r} is not a list of indices: use e.g. 0-4 or 0,2") from None
    if not out:
        raise InputError(f"--instructions {text!r} names no instruction: use e.g. 0-4")
    return sorted(set(out))

def split_list(text: str | None) -> list[str] | None:
    """``"Age,Religion"`` -> ["Age", "Religion"]; None stays None."""
    if text is None:
        return None
    items = [t.strip() for t in text.split(",") if t.strip()]
    return items or None

def parse_dataset_options(specs: Sequence[str] | None) -> dict | None:
    """``["language=nl", "seed=3"]`` -> ``{"language": "nl", "seed": 3}`` (ints/bools/floats parsed)."""
    if not specs:
        return None
    out: dict = {}
    for spec in specs:
        key, sep, value = str(spec).partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise InputError(f"--dataset-option {spec!r}: write KEY=VALUE, e.g. language=nl")
        value = value.strip()
        lowered = value.lower()
        if lowered in ("true", "false"):
            out[key] = lowered == "true"
            continue
        for kind in (int, float):
            try:
                out[key] = kind(value)
                break
            except ValueError:
                continue
        else:
            out[key] = value
    return out

def prompts(args: argparse.Namespace) -> int:
    """``prompts``: expand a BBQ study grid into its prompts table, and count it."""
    from .pipeline import RunConfig, study_inputs

    config = RunConfig(
        dataset=args.dataset, bbq_dir=args.bbq_dir, dataset_options=parse_dataset_options(args.dataset_options),
        prompt_language=args.prompt_language, categories=split_list(args.categories), personas=args.personas,
        placebo_personas=args.placebo_personas, instructions=parse_instruction_range(args.instructions),
        instruction_file=args.instruction_file, limit=args.limit, limit_from=args.limit_from, messages=args.template,
        option_orders=args.option_orders, seed=args.seed,
    )
    prompts = study_inputs(config).prompts
    summary = prompts.groupby("category").agg(items=("item_id", "nunique"), personas=("persona", "nunique"))
    from .runner import prompt_counts

    unique = prompts.drop_duplicates("prompt_id")
    per_category = {cat: prompt_counts(part) for cat, part in unique.groupby("category", sort=True)}
    summary["prompts"] = [per_category[c]["prompts"] for c in summary.index]
    summary["distinct"] = [per_category[c]["distinct"] for c in summary.index]
    print(summary.to_string())
    counts = prompt_counts(unique)
    print(f"prompts: {counts['prompts']:,} ({counts['distinct']:,} distinct, {counts['copies']:,} copies: a "
          "deterministic model is asked each distinct text once)")
    if args.placebo_personas:
        from .personas import PLACEBO_GROUP

        placebo = unique["persona_group"] == PLACEBO_GROUP
        print(f"of which placebo control group: {int(placebo.sum()):,} prompts "
              f"({unique.loc[placebo, 'persona'].nunique()} roles per category)")
    if args.out:
        write_table(prompts, Path(args.out))
        print(f"wrote {args.out}")
    return 0

def score(args: argparse.Namespace) -> int:
    """``score`` (= ``score --instrument bbq``): recorded answers to BBQ-family items -> a score directory."""
    import warnings

    from .scoring import score_responses

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scored = score_responses(
            args.path,
            fmt=args.format,
            bbq_dir=args.bbq_dir,
            dataset=args.dataset,
            dataset_options=parse_dataset_options(args.dataset_options),
            parser=args.parser,
            out=args.out,
            model=args.model,
            personas=args.personas,
            strict=args.strict,
            w=args.w,
            v=args.v,
            n_boot=args.n_boot,
            ci=args.ci,
            seed=args.seed,
            include_excluded=args.include_excluded,
            report=not args.no_report,
            figures=args.figures,
            resample=args.resample,
            tb_threshold=args.tb_threshold,
            bamt_threshold=args.bamt_threshold,
            bamt_fraction=args.bamt_fraction,
            workers=args.workers,
        )
    for warning in caught:
        print(f"warning: {warning.message}", file=sys.stderr)
    o = scored.outcome
    print(
        f"read {o.lines:,} responses: scored {o.scored:,}; dropped {o.malformed} malformed, "
        f"{o.unknown_category} unknown category, {o.unknown_example_id} unknown example id, {o.duplicates} duplicates"
    )
    for message in o.errors[:5]:
        print(f"  {message}", file=sys.stderr)
    if o.unknown_personas:
        print(f"personas not in the catalogue (scored, no in-group): {', '.join(sorted(o.unknown_personas))}")
    print_summary(scored.results.summary, quiet=args.quiet)
    print_position_bias(scored.record, quiet=args.quiet)
    print(f"wrote {scored.out}/: summary.csv, target_bias.csv, persona_bias.csv, graphs/, score.json"
          + ("" if args.no_report else ", figures/, report.html"))
    return 0

def run(args: argparse.Namespace, demo_model: Callable[[], str] | None = None) -> int:
    """``run`` (= ``run --instrument bbq``): a persona study, the run directory, the summary table.
    ``demo_model``: the demo model's path when ``--demo`` is given (:mod:`socialbias.demo`)."""
    from .pipeline import RunConfig, load_config_file, run_study

    given = [flag for flag, name in POLITICAL_ONLY.items() if getattr(args, name, None) is not None]
    if given:
        raise InputError(f"{', '.join(given)}: settings of the political instruments, not of BBQ persona QA; drop "
                         "them, or name a political instrument with --instrument ID")
    settings: dict = {}
    if args.demo:
        from .demo import demo_settings

        settings.update(demo_settings(args.demo))
        settings["out"] = "runs/demo"
    if args.config:
        settings.update(load_config_file(args.config))
    explicit = {k: v for k, v in vars(args).items() if k in RunConfig.fields() and v is not None}
    if "categories" in explicit:
        explicit["categories"] = split_list(explicit["categories"])
        if explicit["categories"] is None:
            raise InputError("--categories is empty: name categories, e.g. Age,Religion, or leave it out for all")
    if "instructions" in explicit:
        explicit["instructions"] = parse_instruction_range(explicit["instructions"])
    if "dataset_options" in explicit:
        explicit["dataset_options"] = {**(settings.get("dataset_options") or {}),
                                       **parse_dataset_options(explicit["dataset_options"])}
    for spec in args.model_args or ():
        key, sep, value = str(spec).partition("=")
        if not sep or not key.strip():
            raise InputError(f"--model-arg {spec!r}: write KEY=VALUE, e.g. dtype=float32")
        name, converted = RunConfig.engine_setting(key, value)
        if name in explicit and explicit[name] != converted:
            raise InputError(f"--model-arg {spec!r} and --{name.replace('_', '-')} disagree: give the setting once")
        explicit[name] = converted
    settings.update(explicit)
    if isinstance(settings.get("instructions"), str):
        settings["instructions"] = parse_instruction_range(settings["instructions"])
    if args.demo and not settings.get("model"):
        settings["model"] = demo_model() if demo_model else demo_model_path(args.demo)
    config = RunConfig(**settings)
    study = run_study(config)
    print_summary(study.summary, quiet=config.quiet)
    print_position_bias(study.record, quiet=config.quiet)
    print(run_line(study.record, study.directory))
    return 0

def run_line(record: dict, directory) -> str:
    """The last line of a run, in the count words of :data:`socialbias.runner.COUNTS`."""
    counts, answering = record.get("counts", {}), record.get("answering", {})
    line = (f"asked {counts.get('asked', 0):,} prompts in {answering.get('seconds', 0):.1f} s "
            f"({counts.get('cached', 0):,} cached in the store; the study has {counts.get('prompts', 0):,} prompts, "
            f"{counts.get('distinct', 0):,} distinct); scored {counts.get('scored', 0):,} answers; results in {directory}")
    warnings = record.get("warnings") or []
    return line + "".join(f"\nwarning: {w}" for w in warnings)

def print_summary(summary, quiet: bool = False) -> None:
    """The summary table, a few columns, 3 decimals; TB and BAmt with their intervals and the type
    with its confidence where the summary has them (none for a stratum with one template)."""
    if quiet:
        return
    import numpy as np

    table = summary.copy()
    shown = ["model", "category", "context_condition"]
    for name in ("TB", "BAmt"):
        if name in table.columns and f"{name}_lo" in table.columns:
            lo, hi = table[f"{name}_lo"].to_numpy(float), table[f"{name}_hi"].to_numpy(float)
            table[f"{name} [interval]"] = [f"{v:.3f}" + (f" [{a:.3f}, {b:.3f}]" if np.isfinite(a) and np.isfinite(b)
                                                           else " [none]")
                                           for v, a, b in zip(table[name].to_numpy(float), lo, hi)]
            shown.append(f"{name} [interval]")
        elif name in table.columns:
            shown.append(name)
    shown += ["PB", "PB_floor", "s_dis", "s_amb", "s_amb_paper", "acc", "invalid_rate"]
    if "type" in table.columns and "type_confidence" in table.columns:
        conf = table["type_confidence"].to_numpy(float)
        table["type (confidence)"] = [f"{t} ({c:.2f})" if np.isfinite(c) else f"{t} (none)"
                                      for t, c in zip(table["type"].astype(str), conf)]
        shown.append("type (confidence)")
    elif "type" in table.columns:
        shown.append("type")
    table = table[[c for c in shown if c in table.columns]]
    print(table.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    if any(c.endswith("[interval]") for c in table.columns):
        print("[interval]: the summary's interval (docs/method.md: bootstrap over templates; for TB, the mean of "
              "absolute values, a bias-corrected lower end); none: the stratum's items come from one template")
    if "s_amb" in table.columns or "s_amb_paper" in table.columns:
        print("s_amb: the original BBQ ambiguous-context bias score (Parrish et al. 2022; lm-evaluation-harness "
              "amb_bias_score); s_amb_paper: Shin et al.'s (1 - accuracy) x s_DIS")


def print_position_bias(record: dict, quiet: bool = False) -> None:
    """Each model's position-bias line (shown positions chosen vs expected), when rotated."""
    if quiet:
        return
    for line in record.get("position_bias") or []:
        if "not identifiable" not in line:
            print(line)

def write_table(table, path: Path) -> None:
    """Write a prompts table to .parquet, .csv or .jsonl atomically (:func:`socialbias.files.write_table_atomic`);
    in CSV and JSONL the chat messages are one JSON text per row."""
    from .files import write_table_atomic

    if path.suffix.lower() != ".parquet" and "messages" in table.columns:
        table = table.assign(messages=[json.dumps(m, ensure_ascii=False) for m in table["messages"]])
    write_table_atomic(table, path)


__all__ = ["parse_dataset_options", "parse_instruction_range", "print_position_bias", "print_summary", "prompts", "run",
           "run_line", "score", "split_list", "write_table"]
