"""A whole study in one call: expand, answer (resuming), score, and write the run directory.

``python -m socialbias.eval run`` and :func:`socialbias.evaluate` both come here. A run directory
holds everything needed to read, re-score and re-render a study without the model:

``run.json``          the full configuration, versions, seeds, decoding settings, backend and model key
``responses.sqlite``  every answer (:mod:`socialbias.store`); a rerun of the same command resumes
``items.parquet``     the items asked (so a report never needs the BBQ files again)
``prompts.parquet``   the prompts table without the message texts (ids, item, persona, run)
``results/``          the metric tables (summary.csv, target_bias.csv, ...), graphs/
``report.html``       the report with its figures (when :mod:`socialbias.report` is available)

The directory is locked while a run writes to it (a second run on it stops with a clear message).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import platform
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from . import __version__
from .backends import registry as backend_registry
from .backends.registry import make_backend
from .errors import InputError
from .files import write_json_atomic
from .redact import redact as scrub
from .results import RUN_FORMAT, Results, check_run_dir, load_run, write_position_bias  # noqa: F401  (re-exported)
# The BBQ instrument's own parts (items, prompts, answers): socialbias/instruments/bbq/ (docs/design.md).
from .instruments.bbq.study import StudyInputs, answers_from_store, load_dataset_items, study_inputs  # noqa: F401



@dataclass
class RunConfig:
    """Everything that defines a study. Field names are the CLI flags (``--max-tokens``) and the
    config-file keys (``max_tokens``)."""

    model: str | None = None
    backend: str = "hf"
    dataset: str = "bbq"
    bbq_dir: str | None = None
    dataset_options: dict[str, Any] | None = None
    prompt_language: str = "auto"
    categories: list[str] | None = None
    personas: str = "paper"
    placebo_personas: bool = False
    instructions: list[int] = field(default_factory=lambda: [0, 1, 2, 3, 4])
    instruction_file: str = "paper"
    limit: int = 0
    limit_from: str = "start"
    mode: str = "logprob"
    template: str = "auto"
    messages: str = "split"
    option_orders: str = "fixed"
    parser: str = "strict"
    temperature: float = 0.0
    top_p: float = 1.0
    max_tokens: int = 16
    seed: int = 0
    dtype: str | None = None
    device: str | None = None
    revision: str | None = None
    gguf_file: str | None = None
    max_batch_tokens: int | None = None
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    api_key_file: str | None = None
    concurrency: int = 16
    request_timeout: float = 60.0
    max_retries: int = 8
    responses: str | None = None
    tensor_parallel_size: int = 1
    max_model_len: int | None = None
    gpu_memory_utilization: float = 0.9
    lora: list[str] | None = None
    edit: str | None = None
    executor: str = "local"
    ray_address: str | None = None
    ray_concurrency: int = 1
    ray_num_gpus: float = 0.0
    ray_batch_size: int = 64
    w: float = 2.0
    v: float = 1.0
    n_boot: int = 1000
    ci: float = 0.95
    bootstrap_seed: int = 0
    resample: str = "templates"
    tb_threshold: float = 0.1
    bamt_threshold: float | None = None
    bamt_fraction: float = 0.5
    include_excluded: bool = False
    out: str = "runs/study"
    report: bool = True
    figures: str = "auto"
    quiet: bool = False
    repair: bool = False

    @classmethod
    def fields(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def engine_setting(cls, key: str, value: Any) -> tuple[str, Any]:
        """One ``--model-arg KEY=VALUE``: an engine setting by name, its text converted to the
        field's type. Only the ``engine`` group's settings are accepted, so a typo or a setting
        of another group is an error that lists what is allowed."""
        name = str(key).strip().replace("-", "_")
        if name not in CONFIG_GROUPS["engine"]:
            raise InputError(f"--model-arg {key}=...: not an engine setting; use one of {', '.join(CONFIG_GROUPS['engine'])}")
        default = next(f for f in dataclasses.fields(cls) if f.name == name).default
        if not isinstance(value, str) or value.lower() in ("none", "null", ""):
            return name, None if isinstance(value, str) else value
        kind = type(default) if default is not None else (int if name in _INT_ENGINE_SETTINGS else str)
        try:
            return name, kind(value)
        except ValueError:
            raise InputError(f"--model-arg {key}={value}: {name} takes a {kind.__name__}") from None

    def validate(self) -> RunConfig:
        from .validation import check_run

        check_run(self)  # types, ranges and files of every setting, before any model or request
        if self.backend not in backend_registry.names():
            backend_registry.factory(self.backend)  # raises the error that lists the registered names
        if self.mode not in ("logprob", "generate"):
            raise InputError(f"unknown mode {self.mode!r}: use 'logprob' or 'generate'")
        if self.messages not in ("split", "merged"):
            raise InputError(f"unknown message layout {self.messages!r}: use 'split' or 'merged'")
        if self.option_orders not in ("fixed", "cyclic", "balanced"):
            raise InputError(f"unknown option order design {self.option_orders!r}: use fixed (the paper's), "
                             "cyclic or balanced")
        if self.backend == "replay":
            if not self.responses:
                raise InputError("the replay backend needs --responses FILE.jsonl (recorded answers)")
        elif not self.model:
            raise InputError("no model: pass --model (a hub id, a local directory or a .gguf file), or --demo")
        if self.executor not in ("local", "ray"):
            raise InputError(f"unknown executor {self.executor!r}: use 'local' or 'ray'")
        if self.figures not in ("auto", "overview", "all", "none", "summary"):
            raise InputError(f"unknown figures setting {self.figures!r}: use auto, overview, all or none")
        if self.edit and self.backend != "hf":
            raise InputError(f"--edit is applied by the hf backend only (not {self.backend}): use --backend hf")
        if self.lora and self.backend not in ("hf", "vllm"):
            raise InputError(f"--lora adapters run on the hf and vllm backends only (not {self.backend}): use "
                             "--backend hf or vllm")
        if self.executor == "ray" and (self.lora or self.backend == "replay"):
            raise InputError(f"--executor ray does not run {'--lora adapters' if self.lora else 'the replay backend'}: "
                             "use --executor local")
        if self.backend == "openai" and not self.base_url:
            self.base_url = os.environ.get("OPENAI_BASE_URL", "https://api.openai.com/v1")
        return self

    def public(self) -> dict[str, Any]:
        """The configuration as recorded in run.json (never a secret: keys are named, not stored)."""
        from .redact import scrub_url

        out = {k: v for k, v in dataclasses.asdict(self).items() if k not in ("quiet",)}
        if out.get("base_url"):
            out["base_url"] = scrub_url(out["base_url"])  # a key in the URL is never stored
        return out


#: The settings of a study by group, in the order of ``run --help``; every RunConfig field is in
#: exactly one group (tests/test_cli.py). ``--model-arg KEY=VALUE`` sets any ``engine`` setting.
CONFIG_GROUPS: dict[str, tuple[str, ...]] = {
    "model": ("model", "backend"),
    "data": ("dataset", "bbq_dir", "dataset_options", "categories", "limit", "limit_from",
             "include_excluded"),
    "personas": ("personas", "placebo_personas", "instructions", "instruction_file", "prompt_language"),
    "prompting": ("mode", "template", "messages", "option_orders", "parser"),
    "decoding": ("temperature", "top_p", "max_tokens", "seed"),
    "engine": ("dtype", "device", "revision", "gguf_file", "max_batch_tokens", "base_url", "api_key_env",
               "api_key_file", "concurrency", "request_timeout", "max_retries", "responses", "tensor_parallel_size",
               "max_model_len", "gpu_memory_utilization", "lora", "edit"),
    "scale-out": ("executor", "ray_address", "ray_concurrency", "ray_num_gpus", "ray_batch_size"),
    "statistics": ("w", "v", "n_boot", "ci", "bootstrap_seed", "resample", "tb_threshold", "bamt_threshold",
                   "bamt_fraction"),
    "output": ("out", "report", "figures", "quiet", "repair"),
}
_INT_ENGINE_SETTINGS = ("max_batch_tokens", "max_model_len")


def load_config_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a TOML (``.toml``) or YAML (``.yaml``/``.yml``) config; unknown keys are an error."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"config file {str(p)!r} does not exist")
    text = p.read_text(encoding="utf-8")
    if p.suffix.lower() == ".toml":
        import tomllib

        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise InputError(f"config file {str(p)!r} is not valid TOML: {exc}") from None
    elif p.suffix.lower() in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:
            raise InputError(f"reading {str(p)!r} needs PyYAML (pip install pyyaml), or write the config as TOML") from None
        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            raise InputError(f"config file {str(p)!r} is not valid YAML: {str(exc).splitlines()[0]}") from None
    else:
        raise InputError(f"config file {str(p)!r}: use a .toml or .yaml file")
    if not isinstance(data, dict):
        raise InputError(f"config file {str(p)!r} must be a table of settings")
    data = {k.replace("-", "_"): v for k, v in data.items()}
    if "data_dir" in data:  # the data folder's name for every dataset (bbq_dir: its first name)
        data["bbq_dir"] = data.pop("data_dir")
    model_args = data.pop("model_args", None) or {}
    if not isinstance(model_args, dict):
        raise InputError(f"config file {str(p)!r}: model_args must be a table of engine settings, e.g. {{dtype = 'float32'}}")
    for key, value in model_args.items():
        name, converted = RunConfig.engine_setting(key, value)
        data[name] = converted
    unknown = sorted(set(data) - set(RunConfig.fields()))
    if unknown:
        raise InputError(
            f"config file {str(p)!r} has unknown key(s) {', '.join(unknown)}: known keys are the run flags, "
            f"e.g. {', '.join(RunConfig.fields()[:8])}, ..."
        )
    if "categories" in data and isinstance(data["categories"], str):
        data["categories"] = [c.strip() for c in data["categories"].split(",") if c.strip()]
    return data


def versions() -> dict[str, str]:
    """Package and engine versions for the run record (engines only if already imported)."""
    import sys

    import numpy
    import scipy

    out = {"socialbias": __version__, "python": platform.python_version(), "numpy": numpy.__version__,
           "pandas": pd.__version__, "scipy": scipy.__version__}
    for name in ("torch", "transformers", "vllm", "httpx"):
        module = sys.modules.get(name)
        if module is not None:
            out[name] = getattr(module, "__version__", "?")
    return out


def run_study(config: RunConfig) -> "Results":
    """Run a study as ``config`` says (see the module docstring) and return its results."""
    from .outdir import check_output_dir, open_output

    config.validate()
    out = check_output_dir(config.out)
    previous = check_run_dir(out)

    inputs = study_inputs(config)
    prompts = inputs.prompts
    if prompts.empty:
        raise InputError("the study has no prompts: check --categories, --personas and --instructions")

    created = not out.exists()
    # Only a new, empty or socialbias directory; its exclusive lock is held until the end.
    out_lock = open_output(out, "run")
    try:
        return _run_locked(config, out, previous, inputs, created)
    finally:
        out_lock.release()


def _run_locked(config: RunConfig, out: Path, previous: dict[str, Any] | None, inputs: StudyInputs,
                created: bool) -> "Results":
    from socialbias import metrics

    from .runner import COUNTS, answer_prompts, loading_line, prompt_counts
    from .session import captured_warnings, carry_letter_mass, model_fingerprint, run_warnings, stored_backends
    from .store import ResponseStore

    items, personas, prompts = inputs.items, inputs.personas, inputs.prompts
    counts = {"items": len(items), **prompt_counts(prompts)}
    # the run directory's lock is held (run_study)
    with ResponseStore.open(out) as store, captured_warnings() as logged:
        # Every stored row is checked before anything is asked: a damaged one is an error, or with
        # --repair it is dropped (and asked again below).
        repaired = store.check(repair=config.repair)
        if repaired:
            print(f"warning: --repair dropped {repaired} damaged answer(s) from {store.path}; they are asked again",
                  file=sys.stderr)
        # A rerun whose every answer is stored does not load the model (socialbias.session).
        stored = stored_backends(config, previous, prompts, store)
        if not stored and not config.quiet:  # the first line, before a model load of seconds to minutes
            print(loading_line(counts, config.model or config.backend), file=sys.stderr, flush=True)
        try:
            if stored:
                backend = stored[0]
            elif config.executor == "ray":  # the engines live in Ray actors; a probe tells the model key
                from .executors import backend_factory, probe

                backend = probe(backend_factory(config), config.mode, num_gpus=config.ray_num_gpus,
                                address=config.ray_address)
            else:
                backend = make_backend(config, prompts, items, personas)
        except BaseException:
            # Nothing was answered yet: leave no empty store behind in a directory this run created.
            if created:
                store.close()
                _remove_new_run_dir(out)
            raise
        # A vLLM engine with LoRA adapters answers as the base model and as each adapter.
        variants = stored or (backend.variants() if hasattr(backend, "variants") else [backend])
        record = {
            "run_format": RUN_FORMAT,
            "command": "run",
            "config": config.public(),
            "model_key": backend.key,
            "model": _model_name(config, backend),
            "backend": _describe(backend),
            "model_fingerprint": model_fingerprint(config),
            "dataset": inputs.dataset.as_dict(),
            "prompt_language": inputs.language.provenance(),
            "items": items.attrs.get("load_report", {}),
            "counts": dict(counts),
            "count_words": COUNTS,
            "versions": versions(),
            # Earlier sessions of this run directory (a resumed run keeps what the first one measured).
            "history": _history(previous),
        }
        write_json_atomic(out / "run.json", scrub(record))
        items.to_parquet(out / "items.parquet", index=False)
        personas.to_parquet(out / "personas.parquet", index=False)
        prompts.drop(columns=["messages"]).to_parquet(out / "prompts.parquet", index=False)
        frames, record["variants"] = [], []
        for variant in variants:
            name = _model_name(config, variant)
            if config.executor == "ray" and not stored:
                from .executors import answer_prompts_ray, backend_factory

                stats = answer_prompts_ray(prompts, backend_factory(config), store, config.mode, backend=variant,
                                           address=config.ray_address, concurrency=config.ray_concurrency,
                                           num_gpus=config.ray_num_gpus, batch_size=config.ray_batch_size,
                                           progress=not config.quiet, description=f"answering ({name}, ray)")
            else:
                stats = answer_prompts(prompts, variant, store, config.mode, progress=not config.quiet,
                                       description=f"answering ({name})")
            responses = store.responses(variant.key)
            frames.append(answers_from_store(prompts, responses, items, name))
            answered = prompts["prompt_id"].isin(responses["prompt_id"])
            entry = {
                "model": name, "model_key": variant.key, "backend": _describe(variant),
                "answering": dataclasses.asdict(stats) | {"prompts_per_second": stats.prompts_per_second},
                "unanswered": int((~answered).sum()),
            }
            carry_letter_mass(entry, previous)
            record["variants"].append(entry)
        first = record["variants"][0]
        record["answering"], record["backend"] = first["answering"], first["backend"]
        record["counts"].update(cached=first["answering"]["cached"], asked=first["answering"]["asked"],
                                unanswered=first["unanswered"])
        record["versions"] = versions()
        record["warnings"] = run_warnings(record, logged, previous)
        write_json_atomic(out / "run.json", scrub(record))

        # Still under the run-directory lock: results/ and the report are written by this run only.
        answers = pd.concat(frames, ignore_index=True)
        if answers.empty:
            raise InputError(f"no prompt of the study has an answer in {out}: nothing to score")
        results = metrics.score_answers(answers, w=config.w, v=config.v, n_boot=config.n_boot, ci=config.ci,
                                        seed=config.bootstrap_seed, include_excluded=config.include_excluded,
                                        resample=config.resample, undefined_metrics=inputs.dataset.undefined_metrics,
                                        thresholds=metrics.TypeThresholds(
                                            tb_threshold=config.tb_threshold, bamt_threshold=config.bamt_threshold,
                                            bamt_fraction=config.bamt_fraction))
        record["counts"]["scored"] = _scored(results, len(answers))
        position = position_report(answers, record, n_perm=999 if config.n_boot else 0, seed=config.bootstrap_seed)
        study = Results(results, out, record, personas, position)
        write_json_atomic(out / "run.json", scrub(record))
        study.save(out, report=config.report, figures=config.figures)
    return study


def _remove_new_run_dir(out: Path) -> None:
    """Remove a run directory this run created and left empty of answers (its lock file stays
    until the lock is released; the directory goes with it then)."""
    for entry in out.iterdir():
        if entry.name != ".lock":
            shutil.rmtree(entry, ignore_errors=True) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
    with contextlib.suppress(OSError):
        (out / ".lock").unlink()
        out.rmdir()


def position_report(answers: pd.DataFrame, record: dict[str, Any], *, n_perm: int, seed: int) -> pd.DataFrame:
    """Each model's position bias (:mod:`metrics.position`); its one-line summaries go into the
    run record (and from there into the report)."""
    from socialbias.metrics.position import describe, position_bias

    table = position_bias(answers, n_perm=n_perm, seed=seed)
    record["position_bias"] = describe(table)
    return table


def evaluate(model: str | None = None, backend: str = "hf", categories: Sequence[str] | None = None, **settings: Any) -> "Results":
    """Run a study from Python and return its :class:`Results` (the same as ``eval run``).

    Every :class:`RunConfig` field is a keyword (``bbq_dir=``, ``personas=``, ``mode=``,
    ``limit=``, ``out=``, ...)::

        results = socialbias.evaluate(model="Qwen/Qwen2.5-0.5B-Instruct", backend="hf",
                                      categories=["Age"], bbq_dir="BBQ/data", out="runs/qwen")
        results.summary
    """
    unknown = sorted(set(settings) - set(RunConfig.fields()))
    if unknown:
        raise InputError(f"unknown setting(s) {', '.join(unknown)}: see socialbias.RunConfig for the known ones")
    settings.setdefault("quiet", True)
    return run_study(RunConfig(model=model, backend=backend, categories=list(categories) if categories else None, **settings))


def _model_name(config: RunConfig, backend: Any) -> str:
    """A readable model name for tables: the model id (a path's last part), plus ``+adapter``."""
    name = str(getattr(backend, "model_name", None) or config.model or "model")
    from .backends.adapters import variant_label

    return variant_label(Path(name).name if os.sep in name else name, backend)


def _scored(results: Any, answers: int) -> int:
    """How many answers entered the metrics: all but those of excluded (known-defective) items."""
    summary = results.summary
    return int(summary["n_responses"].sum()) if "n_responses" in summary.columns else int(answers)


def _history(previous: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The sessions recorded in a previous run.json, plus that run's own, oldest first."""
    if not previous:
        return []
    keep = ("model_key", "config", "variants", "answering", "backend", "counts", "warnings", "versions")
    return [*previous.get("history", []), {k: previous[k] for k in keep if k in previous}]


def _describe(backend: Any) -> dict[str, Any]:
    return scrub(backend.describe()) if hasattr(backend, "describe") else {"key": backend.key}


__all__ = ["RunConfig", "Results", "answers_from_store", "evaluate", "load_config_file", "load_run", "run_study", "scrub"]
