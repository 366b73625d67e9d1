"""Loading a model for :class:`~socialbias.backends.hf.HFBackend`: device, dtype, where the model
is (hub id, directory or GGUF file), and the load itself with one clear error line.

GGUF files. transformers reads a GGUF file three times for one load (config, tokenizer,
weights: each parse of the metadata holds every vocabulary entry as numpy views, about 0.7 GB
for Gemma 3's 262,144 tokens) and dequantizes each tensor through a list of row groups
concatenated afterwards (twice the tensor's size at once). :func:`gguf_light` makes the load
parse the file once (the reader is shared by the three steps, it is read-only) and dequantize
large tensors in slices of rows into one output array. The weights are bit-identical (tested
in tests/test_backend_hf.py); for the Gemma 3 270M demo model the load takes 41% less CPU
time and its peak memory falls from 3.3 GB to 2.7 GB (README, Quickstart; measured with
``/usr/bin/time -v``). The dequantized weights then live once, in the dtype asked for.

torch and transformers are imported inside the functions, never when this module is.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InputError
from .base import first_line, looks_like_path

if TYPE_CHECKING:  # pragma: no cover
    import torch

logger = logging.getLogger("socialbias.backends.hf")

#: Rows of a quantized tensor dequantized at once by :func:`gguf_light`.
DEQUANT_ROWS = 4096

_DTYPES = {
    "bfloat16": "bfloat16", "bf16": "bfloat16",
    "float16": "float16", "fp16": "float16", "half": "float16",
    "float32": "float32", "fp32": "float32", "float": "float32",
    "auto": "auto",
}


def _resolve_device(device: str | None) -> torch.device:
    import torch

    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise InputError(f"device {device!r} is not a torch device ({first_line(e)}): use cpu, cuda or cuda:N") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"device {device!r} asked for, but torch sees no CUDA GPU: use --device cpu")
    return dev


def _resolve_dtype(dtype: Any, device: torch.device) -> Any:
    """A torch dtype (or ``"auto"``) from a name; None gives the device's default."""
    import torch

    if dtype is None:
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float32
    if isinstance(dtype, torch.dtype):
        return dtype
    name = _DTYPES.get(str(dtype).lower().removeprefix("torch."))
    if name is None:
        raise InputError(f"dtype {dtype!r} is not supported: use bfloat16, float16, float32 or auto")
    return name if name == "auto" else getattr(torch, name)


def _locate(model: str | Path, gguf_file: str | None) -> tuple[str, str, str | None]:
    """``(name for the key, what from_pretrained loads, gguf file name)`` of a model argument.

    Local models are named by their absolute path (stable whatever the working directory);
    hub ids as given. A ``.gguf`` file given as ``model`` is split into its directory and name.
    """
    text = str(model)
    path = Path(text).expanduser()
    if path.exists():
        path = path.resolve()
        if path.is_file():
            if path.suffix.lower() != ".gguf" or gguf_file:
                raise InputError(
                    f"model {text!r} is a file but not a .gguf file: give a model directory, a hub id or a .gguf file")
            return str(path), str(path.parent), path.name
        if gguf_file and not (path / gguf_file).is_file():
            raise InputError(f"GGUF file {gguf_file!r} not found in {str(path)!r}: check the file name")
        return (str(path / gguf_file) if gguf_file else str(path)), str(path), gguf_file
    if isinstance(model, Path) or looks_like_path(text) or text.endswith(".gguf"):
        raise InputError(
            f"model {text!r} does not exist: give a hub id (org/name), a local model directory or a .gguf file")
    return text, text, gguf_file


def _load(name: str, source: str, *, revision: str | None, gguf_file: str | None, dtype: Any,
          device: torch.device, attn_implementation: str | None, model_kwargs: dict[str, Any]) -> tuple[Any, Any]:
    """Load tokenizer and model; any failure becomes one :class:`InputError` line."""
    import transformers
    from packaging.version import Version
    from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig

    common: dict[str, Any] = {"revision": revision}
    if gguf_file:
        common["gguf_file"] = gguf_file
    for k in ("trust_remote_code", "token", "cache_dir", "local_files_only"):
        if k in model_kwargs:
            common[k] = model_kwargs[k]
    # transformers 4.56 renamed torch_dtype to dtype.
    dtype_arg = "dtype" if Version(transformers.__version__) >= Version("4.56") else "torch_dtype"
    kwargs: dict[str, Any] = {**model_kwargs, **common, dtype_arg: dtype}
    if not gguf_file:
        # Weights from safetensors only: a pickled checkpoint (.bin) could execute code on load.
        # model_kwargs={"use_safetensors": False} opts in for a checkpoint you trust.
        kwargs.setdefault("use_safetensors", True)
    if device.type == "cuda" and "device_map" not in kwargs and importlib.util.find_spec("accelerate"):
        kwargs["device_map"] = str(device)  # load straight to the GPU, not through CPU memory
    what = f"{name}{f' (revision {revision})' if revision else ''}"
    try:
        # a GGUF file is parsed once for tokenizer, config and weights (gguf_light)
        with gguf_light() if gguf_file else nullcontext():
            tokenizer = AutoTokenizer.from_pretrained(source, **common)
            try:
                model = AutoModelForCausalLM.from_pretrained(source, attn_implementation=attn_implementation, **kwargs)
            except (ValueError, ImportError) as e:
                reason = str(e).lower()
                if attn_implementation is None or ("attn" not in reason and "attention" not in reason):
                    raise
                logger.warning("%s: attention %r unavailable (%s); using the default", what, attn_implementation,
                               first_line(e))
                model = AutoModelForCausalLM.from_pretrained(source, **kwargs)
    except InputError:
        raise
    except Exception as e:  # OSError (missing/offline), ValueError (not a causal LM), ImportError (gguf), ...
        raise InputError(f"cannot load model {what}: {first_line(e)}; {_load_fix(e, gguf_file)}") from None
    if "device_map" not in kwargs:
        model.to(device)
    model.eval()
    # Decoding is set explicitly per call: drop the checkpoint's sampling defaults (temperature,
    # top_p, repetition_penalty, ...) so that generate mode does exactly what the key records.
    original = model.generation_config
    model.generation_config = GenerationConfig(
        bos_token_id=original.bos_token_id, eos_token_id=original.eos_token_id, pad_token_id=original.pad_token_id,
    )
    return tokenizer, model


def _load_fix(e: Exception, gguf_file: str | None) -> str:
    if "safetensors" in str(e).lower() and not gguf_file:
        return ("socialbias loads weights from safetensors (or GGUF) only, never pickled .bin files: convert the "
                "checkpoint to safetensors, or pass model_kwargs={'use_safetensors': False} for one you trust")
    text = str(e).lower()
    if isinstance(e, ImportError) and "gguf" in text or gguf_file and "gguf" in text and "install" in text:
        return "install the GGUF reader: pip install gguf"
    if isinstance(e, ImportError):
        return "install the missing package named above"
    if gguf_file:
        return "check that it is a complete GGUF model of an architecture transformers reads (needs: pip install gguf)"
    if isinstance(e, OSError):
        return ("check the hub id and --revision, or download the model first (hub access may be off: "
                "HF_HUB_OFFLINE), or give a local model directory")
    return "check that it is a causal language model that transformers can load (or pass trust_remote_code)"




@contextmanager
def gguf_light() -> Iterator[None]:
    """Within the block, GGUF files are parsed once per path and large tensors are dequantized
    in slices of :data:`DEQUANT_ROWS` rows (see the module docstring); restored afterwards.

    Patches the ``gguf`` module's ``GGUFReader`` and ``dequantize``, which transformers looks up
    when it loads a GGUF file. Without the ``gguf`` package, does nothing (the load then fails
    with its own message)."""
    try:
        import gguf
    except ImportError:
        yield
        return
    reader_cls, dequantize = gguf.GGUFReader, gguf.dequantize
    readers: dict[tuple[str, str], Any] = {}

    def shared_reader(path: Any, mode: str = "r") -> Any:
        key = (os.path.realpath(path), mode)
        if mode != "r":  # a writable reader is never shared
            return reader_cls(path, mode)
        if key not in readers:
            readers[key] = reader_cls(path, mode)
        return readers[key]

    def sliced_dequantize(data: Any, qtype: Any) -> Any:
        return dequantize_in_slices(dequantize, data, qtype)

    gguf.GGUFReader, gguf.dequantize = shared_reader, sliced_dequantize
    try:
        yield
    finally:
        gguf.GGUFReader, gguf.dequantize = reader_cls, dequantize
        readers.clear()


def dequantize_in_slices(dequantize: Any, data: Any, qtype: Any, rows: int = DEQUANT_ROWS) -> Any:
    """``dequantize(data, qtype)`` computed ``rows`` rows at a time into one preallocated array
    (the same values: dequantization works row by row); small tensors in one call."""
    import numpy as np

    if getattr(data, "ndim", 0) < 2 or data.shape[0] <= rows:
        return dequantize(data, qtype)
    first = dequantize(data[:rows], qtype)
    out = np.empty((data.shape[0], *first.shape[1:]), dtype=first.dtype)
    out[:rows] = first
    for start in range(rows, data.shape[0], rows):
        out[start:start + rows] = dequantize(data[start:start + rows], qtype)
    return out


__all__ = ["DEQUANT_ROWS", "dequantize_in_slices", "gguf_light"]
