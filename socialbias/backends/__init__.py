"""Inference backends: one module per engine, one small interface (:mod:`.base`).

Engines (torch, transformers, vllm, httpx) are imported lazily inside their backend module, so
``import socialbias`` works without any of them installed.
"""

from .base import MODES, Backend, Decoding, Mode, Prompt, model_key, prompts_from_table

__all__ = ["MODES", "Backend", "Decoding", "Mode", "Prompt", "model_key", "prompts_from_table"]
