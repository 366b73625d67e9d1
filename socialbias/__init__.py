"""socialbias: persona-conditioned social-bias measurement for LLMs on BBQ.

Pipeline (each stage a module, each passing plain pandas tables):
``bbq_adapters`` (items) -> ``socialbias.expand`` (prompts) -> ``socialbias.backends`` (answers)
-> ``socialbias.store`` (responses) -> ``metrics`` (TB, BAmt, PB, BBQ scores) -> ``socialbias.graph``.

Method: Shin et al., "Ask LLMs Directly, 'What shapes your bias?': Measuring Social Bias in Large
Language Models", Findings of ACL 2024. Data: BBQ, Parrish et al., Findings of ACL 2022 (CC BY 4.0).

Importing this package is cheap: engines (torch, transformers, vllm) are imported lazily by the
backend that needs them.
"""

__version__ = "0.1.0"

_LAZY = {
    "evaluate": ("socialbias.pipeline", "evaluate"),
    "load_run": ("socialbias.pipeline", "load_run"),
    "RunConfig": ("socialbias.pipeline", "RunConfig"),
    "Results": ("socialbias.pipeline", "Results"),
    "load_bbq": ("socialbias.bbq_adapters", "load_bbq"),
    "load_items": ("socialbias.bbq_adapters", "load_items"),
    "load_personas": ("socialbias.personas", "load_personas"),
    "load_instructions": ("socialbias.personas", "load_instructions"),
    "expand": ("socialbias.expand", "expand"),
    "ResponseStore": ("socialbias.store", "ResponseStore"),
    "answer_prompts": ("socialbias.runner", "answer_prompts"),
    "score_responses": ("socialbias.scoring", "score_responses"),
    "build_graph": ("socialbias.graph", "build_graph"),
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> object:
    """Import the public API on first use, so ``import socialbias`` stays fast."""
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'socialbias' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
