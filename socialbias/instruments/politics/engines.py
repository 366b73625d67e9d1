"""The engines a political study runs on: hf, vLLM and OpenAI-compatible servers, with option labels.

An instrument with N options is asked with the options numbered ``1) .. N)`` (:mod:`.prompts`),
so in logprob mode every engine scores the labels ``"1".."N"`` as the first answer token
(docs/method.md section 11; docs/design.md, "an instrument"):

``hf``      :class:`~socialbias.backends.hf.HFBackend` ``(labels=...)``: the whole next-token
            distribution, every single token that reads as a label;
``vllm``    :class:`~socialbias.backends.vllm.VLLMBackend` ``(labels=...)``: the same tokens, read
            with ``logprob_token_ids`` (the same numbers as hf up to float rounding);
``openai``  :class:`~socialbias.backends.openai.OpenAIBackend` ``(labels=...)``: the label tokens
            among the server's ``top_logprobs`` alternatives of the first generated token (a
            label outside the top K counts as 0); a server without log-probabilities answers in
            text (the backend's documented fallback), read by the strict parser.

In generate mode no labels are scored: the engines return text, read by
:func:`~.answers.parse_option` against the presented order. Engine settings are passed by name
(:data:`SETTINGS`); a setting the chosen engine does not take is one clear error. ``lora``
(hf through peft, vllm on one engine) makes the base model and each LoRA adapter models of one
run; ``edit`` (hf) applies a representation edit (:mod:`socialbias.edit`).
"""

from __future__ import annotations

from typing import Any

from ...errors import InputError

ENGINES = ("hf", "vllm", "openai")
#: The settings each engine takes (CLI flags of ``run``; the Python API passes them by name).
SETTINGS = {
    "hf": {"device", "dtype", "revision", "template", "decoding", "max_batch_tokens", "gguf_file", "lora", "edit"},
    "vllm": {"dtype", "revision", "template", "decoding", "max_model_len", "tensor_parallel_size",
             "gpu_memory_utilization", "engine_kwargs", "lora"},
    "openai": {"base_url", "decoding", "api_key_env", "api_key_file", "concurrency", "timeout", "max_retries",
               "top_logprobs", "extra_body"},
}


def labels_for(n_options: int) -> list[str]:
    """``["1", ..., "N"]``: the option labels of the prompts (:func:`~.prompts.option_block`)."""
    return [str(k) for k in range(1, n_options + 1)]


def make_backend(engine: str, model: str, mode: str, n_options: int, settings: dict[str, Any] | None = None,
                 like: Any = None) -> Any:
    """A backend of ``engine`` for ``model`` in ``mode`` (labels ``1..n_options`` in logprob mode).

    ``like``: a backend already made for the same model; a vLLM backend then shares its engine
    (:meth:`~socialbias.backends.vllm.VLLMBackend.with_mode`) instead of loading the model again."""
    if engine not in ENGINES:
        raise InputError(f"--backend {engine!r} cannot run an instrument; use one of {', '.join(ENGINES)}")
    settings = {k: v for k, v in (settings or {}).items() if v is not None}
    unknown = sorted(set(settings) - SETTINGS[engine])
    if unknown:
        raise InputError(f"the {engine} backend does not take {', '.join(unknown)} for an instrument run; "
                         f"it takes {', '.join(sorted(SETTINGS[engine]))}")
    labels = labels_for(n_options) if mode == "logprob" else None
    if engine == "vllm" and like is not None and hasattr(like, "with_mode"):
        return like.with_mode(mode, decoding=settings.get("decoding"), labels=labels)
    if engine == "hf":
        from ...backends.hf import HFBackend

        return HFBackend(model, mode=mode, labels=labels, **settings)
    if engine == "vllm":
        from ...backends.vllm import VLLMBackend

        return VLLMBackend(model, mode=mode, labels=labels, **settings)
    from ...backends.openai import DEFAULT_BASE_URL, OpenAIBackend

    base_url = settings.pop("base_url", None) or DEFAULT_BASE_URL
    return OpenAIBackend(model, base_url, mode=mode, labels=labels, **settings)
