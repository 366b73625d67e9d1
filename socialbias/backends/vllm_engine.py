"""The vLLM engine behind :class:`~socialbias.backends.vllm.VLLMBackend`: loading, settings, shutdown.

Split out of :mod:`.vllm` (docs/design.md, "engines"): this module starts one ``vllm.LLM`` with the
backend's settings (checked before anything heavy is imported), keeps what every view of it shares
(:class:`_Engine`: tokenizer, renderer, LoRA requests, prefix-cache counters) and stops it. How
prompts are scored or generated stays in :mod:`.vllm`. vLLM is imported only inside
:func:`_load_engine`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..answers import LETTERS
from ..errors import InputError
from .adapters import Adapter, parse_adapters
from .base import encode_texts, first_line, looks_like_path
from .hf import LetterTokens, letter_tokens
from .render import TEMPLATE_NAMES, ChatRenderer, resolve_template

#: Engine arguments that change speed or memory only, never an answer: left out of the model key
#: (recorded in :meth:`VLLMBackend.describe`). Every other engine argument is part of the key.
PERFORMANCE_ONLY = frozenset({
    "block_size", "enforce_eager", "max_num_seqs", "max_num_batched_tokens", "kv_cache_memory_bytes",
    "swap_space", "cpu_offload_gb", "disable_log_stats", "max_loras", "max_cpu_loras", "max_lora_rank",
    "compilation_config", "enable_chunked_prefill", "distributed_executor_backend", "data_parallel_size",
    "prefix_caching_hash_algo", "scheduling_policy", "download_dir", "load_format",
})
#: Engine arguments the backend sets itself.
_OWN_ARGS = frozenset({
    "model", "revision", "dtype", "tensor_parallel_size", "pipeline_parallel_size", "max_model_len",
    "gpu_memory_utilization", "enable_prefix_caching", "seed", "enable_lora", "logprobs_mode",
})
#: At most this many token ids in ``logprob_token_ids`` (vLLM's ``MAX_LOGPROB_TOKEN_IDS``).
_MAX_LETTER_IDS = 128


def _reason(e: BaseException) -> str:
    """The first line of what went wrong; for a pydantic validation error (vLLM's configs), the
    first error's message rather than "1 validation error for ModelConfig"."""
    errors = getattr(e, "errors", None)
    if callable(errors):
        try:
            first = errors()[0]
            msg = str(first.get("msg", "")).removeprefix("Value error, ")
            loc = ".".join(map(str, first.get("loc") or ()))
            text = f"{loc}: {msg}" if loc else msg
            if text.strip():
                return first_line(ValueError(text))
        except Exception:  # not pydantic after all
            pass
    return first_line(e)


def _locate(model: str | Path, what: str = "model") -> str:
    """A local directory as its absolute path (stable key), a hub id as given; a path that does
    not exist is an :class:`InputError` (before any engine starts)."""
    text = str(model)
    path = Path(text).expanduser()
    if path.exists():
        return str(path.resolve())
    if isinstance(model, Path) or looks_like_path(text):
        raise InputError(f"{what} {text!r} does not exist: give a hub id (org/name) or a local model directory")
    return text


def _lora_rank_setting(ranks: Iterable[int | None]) -> int:
    """The smallest of vLLM's allowed ``max_lora_rank`` values that fits every adapter."""
    need = max([r for r in ranks if r] or [16])
    for allowed in (8, 16, 32, 64, 128, 256, 320, 512):
        if need <= allowed:
            return allowed
    raise InputError(f"a LoRA adapter has rank {need}: vLLM takes at most 512")



# --------------------------------------------------------------------------------------------
# the engine (shared by a backend and its adapter / mode views)
# --------------------------------------------------------------------------------------------


@dataclass
class _Engine:
    """One loaded ``vllm.LLM`` and what every view of it shares."""

    llm: Any
    model_name: str
    revision: str | None
    dtype: str
    tokenizer: Any
    renderer: ChatRenderer
    adapters: dict[str, Adapter]
    settings: dict[str, Any]  # engine arguments as given (for describe)
    key_engine_kwargs: dict[str, Any]  # the ones that can change answers
    max_model_len: int
    versions: dict[str, str]
    cache: dict[str, Any]  # the engine's resolved cache settings (block_size, enable_prefix_caching)
    letters: dict[tuple[str, ...], LetterTokens] = field(default_factory=dict)  # by option labels
    prompt_tokens: int = 0
    cached_tokens: int = 0
    submitted: list[list[int]] | None = None  # test hook: the token ids in submission order
    closed: bool = False
    lora_requests: dict[str, Any] = field(default_factory=dict)

    def letter_tokens(self, labels: Sequence[str] = LETTERS) -> LetterTokens:
        """The single tokens of each option label (BBQ's letters, or an instrument's ``1..N``), found once."""
        labels = tuple(labels)
        if labels not in self.letters:
            found = letter_tokens(self.tokenizer, labels)
            n = sum(len(ids) for ids in found.ids)
            if n > _MAX_LETTER_IDS:
                raise InputError(
                    f"the tokenizer of {self.model_name} has {n} single tokens for the option labels, more than "
                    f"vLLM reads at once ({_MAX_LETTER_IDS}): use mode 'generate'")
            self.letters[labels] = found
        return self.letters[labels]

    def encode(self, texts: list[str]) -> list[list[int]]:
        """Token ids of rendered texts, by the rule the hf backend follows too
        (:func:`~socialbias.backends.base.encode_texts`: BOS unless the template wrote it, no trailing EOS)."""
        return encode_texts(self.tokenizer, texts)


def _load_engine(model: str | Path, *, revision: str | None, dtype: str | None, template: str,
                 tensor_parallel_size: int | None, pipeline_parallel_size: int | None, max_model_len: int | None,
                 gpu_memory_utilization: float | None, enable_prefix_caching: bool, lora: Any, seed: int,
                 engine_kwargs: dict[str, Any]) -> _Engine:
    for arg, value in (("tensor_parallel_size", tensor_parallel_size), ("pipeline_parallel_size", pipeline_parallel_size),
                       ("max_model_len", max_model_len)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise InputError(f"{arg}={value!r}: expected a positive integer")
    if gpu_memory_utilization is None:
        gpu_memory_utilization = 0.9
    if isinstance(gpu_memory_utilization, bool) or not (isinstance(gpu_memory_utilization, (int, float))
                                                        and 0 < gpu_memory_utilization <= 1):
        raise InputError(f"gpu_memory_utilization={gpu_memory_utilization!r}: expected a share in (0, 1]")
    if template not in TEMPLATE_NAMES and not Path(str(template)).expanduser().is_file():
        resolve_template(None, template)  # the InputError naming the choices, before any engine starts
    name = _locate(model)
    adapters = parse_adapters(lora)
    clash = sorted(set(engine_kwargs) & _OWN_ARGS)
    if clash:
        raise InputError(f"engine_kwargs {', '.join(clash)}: set these with VLLMBackend's own arguments")
    what = f"{name}{f' (revision {revision})' if revision else ''}"
    try:
        import vllm
        from vllm import LLM
    except ImportError as e:
        raise InputError(f"the vllm backend needs vLLM ({first_line(e)}): pip install 'socialbias[vllm]' "
                         "(on a CPU-only machine: bash scripts/make_vllm_env.sh)") from None
    kwargs: dict[str, Any] = {
        "revision": revision, "dtype": dtype or "auto", "tensor_parallel_size": tensor_parallel_size or 1,
        "pipeline_parallel_size": pipeline_parallel_size or 1, "max_model_len": max_model_len,
        "gpu_memory_utilization": float(gpu_memory_utilization), "enable_prefix_caching": bool(enable_prefix_caching),
        "seed": int(seed), "logprobs_mode": "raw_logprobs",
    }
    if not str(name).endswith(".gguf"):
        # Weights from safetensors only (a pickled .bin could execute code on load);
        # engine_kwargs={"load_format": "auto"} opts in for a checkpoint you trust.
        kwargs["load_format"] = "safetensors"
    if adapters:
        kwargs["enable_lora"] = True
        kwargs.setdefault("max_lora_rank", _lora_rank_setting(a.rank for a in adapters))
    kwargs.update(engine_kwargs)
    try:
        llm = LLM(name, **kwargs)
    except InputError:
        raise
    except Exception as e:  # OSError, ValueError (config), RuntimeError (engine start), pydantic errors, ...
        raise InputError(f"cannot load model {what} with vLLM: {_reason(e)}; {_load_fix(e)}") from None
    try:
        config = llm.llm_engine.vllm_config
        tokenizer = llm.get_tokenizer()
        renderer = ChatRenderer(tokenizer, template)  # an unusable template: InputError, engine shut down
        lora_requests = {}
        if adapters:
            from vllm.lora.request import LoRARequest

            lora_requests = {a.name: LoRARequest(a.name, a.int_id, a.path) for a in adapters}
        versions = {"vllm": vllm.__version__}
        for mod in ("torch", "transformers"):
            try:
                versions[mod] = __import__(mod).__version__
            except ImportError:  # pragma: no cover
                pass
        return _Engine(
            llm=llm, model_name=name, revision=revision, dtype=str(config.model_config.dtype).removeprefix("torch."),
            tokenizer=tokenizer, renderer=renderer, adapters={a.name: a for a in adapters}, settings=dict(kwargs),
            key_engine_kwargs={k: v for k, v in engine_kwargs.items() if k not in PERFORMANCE_ONLY},
            max_model_len=int(config.model_config.max_model_len), versions=versions, lora_requests=lora_requests,
            cache={"block_size": config.cache_config.block_size,
                   "enable_prefix_caching": bool(config.cache_config.enable_prefix_caching)},
        )
    except BaseException:
        _shutdown(llm)
        raise


def _shutdown(llm: Any) -> None:
    """Stop an engine and free what it holds (best effort)."""
    import gc

    try:
        llm.llm_engine.engine_core.shutdown()
    except Exception:
        pass
    del llm
    gc.collect()
    try:
        from vllm.distributed.parallel_state import cleanup_dist_env_and_memory

        cleanup_dist_env_and_memory()
    except Exception:
        pass


def _load_fix(e: Exception) -> str:
    text = str(e).lower()
    if isinstance(e, ImportError):
        return "install the missing package named above"
    if "memory" in text or "kv cache" in text:
        return ("lower max_model_len or raise gpu_memory_utilization (CPU: VLLM_CPU_KVCACHE_SPACE or "
                "engine_kwargs kv_cache_memory_bytes)")
    if isinstance(e, OSError) or "does not appear" in text or "repo" in text or "not found" in text:
        return ("check the hub id and revision, or download the model first (hub access may be off: "
                "HF_HUB_OFFLINE), or give a local model directory")
    return "check that it is a causal language model vLLM supports, and the engine arguments"


