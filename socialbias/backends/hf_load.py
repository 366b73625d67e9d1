"""Loading a model for :class:`~socialbias.backends.hf.HFBackend`: device, dtype, where the model
is (hub id, directory or GGUF file), and the load itself with one clear error line.

GGUF files (docs/design.md, "Loading a GGUF model"). transformers' GGUF loader parses the
file's metadata with gguf's ``GGUFReader`` more than once for one load (config, weights), and
each parse keeps one numpy view per vocabulary entry (about 0.7 GB for Gemma 3's 262,144
tokens), dequantizes each tensor through row groups concatenated afterwards, and copies every
dequantized array once more before handing it to torch. :func:`gguf_light` makes one load
parse the file once, compactly (:func:`compact_reader_class`), dequantize large tensors in
slices into one array that torch takes as it is (no copy: :func:`is_fresh`), and drop each
tensor's file pages once it is read (:func:`release_pages`); :func:`trim_heap` returns what the
tokenizer's parse freed to the system before the weights are made. The weights are
bit-identical (tests/test_hf_load.py) and live once, in the dtype asked for (float32 on a
CPU). Peak resident memory of the demo run falls from 2.81 GB to 1.80 GB with Gemma 3 270M and
from 1.29 GB to 1.15 GB with SmolLM2-135M (docs/design.md, with the command).

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
            trim_heap()  # the tokenizer's parse buffers go back to the system before the weights come
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
    trim_heap()
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




def trim_heap() -> None:
    """Give the C heap's free memory back to the system (glibc's ``malloc_trim``): what a
    tokenizer's or a GGUF file's parse freed otherwise stays in the process's resident memory
    (73 MB after Gemma 3's tokenizer). Does nothing where there is no glibc."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim(0)
    except (OSError, AttributeError):
        return


@contextmanager
def gguf_light() -> Iterator[None]:
    """Within the block, GGUF files are loaded with about one copy of the weights (see the module
    docstring); the ``gguf`` module and transformers are restored afterwards.

    Patches the ``gguf`` module's ``GGUFReader`` (one compact parse per path, shared) and
    ``dequantize`` (in slices of :data:`DEQUANT_ROWS` rows, the file's pages released after each
    tensor), which transformers looks up when it loads a GGUF file, and the ``np.copy`` of its
    GGUF loader (a freshly dequantized array is handed to torch as it is). Without the ``gguf``
    package, does nothing (the load then fails with its own message)."""
    try:
        import gguf
    except ImportError:
        yield
        return
    reader_cls, dequantize = gguf.GGUFReader, gguf.dequantize
    compact_cls = compact_reader_class(reader_cls)
    readers: dict[tuple[str, str], Any] = {}

    def shared_reader(path: Any, mode: str = "r") -> Any:
        key = (os.path.realpath(path), mode)
        if mode != "r":  # a writable reader is never shared
            return reader_cls(path, mode)
        if key not in readers:
            readers[key] = compact_cls(path, mode)
        return readers[key]

    def sliced_dequantize(data: Any, qtype: Any) -> Any:
        out = dequantize_in_slices(dequantize, data, qtype)
        release_pages(data)
        return out

    gguf.GGUFReader, gguf.dequantize = shared_reader, sliced_dequantize
    try:
        with _no_copy_of_fresh_arrays():
            yield
    finally:
        gguf.GGUFReader, gguf.dequantize = reader_cls, dequantize
        readers.clear()


@contextmanager
def _no_copy_of_fresh_arrays() -> Iterator[None]:
    """transformers' GGUF loader copies each dequantized array before handing it to torch
    (``torch.from_numpy(np.copy(weights))``): for the 262,144 x 640 embedding of Gemma 3 that is
    a second 671 MB at once. Within the block its ``np.copy`` returns an array that owns its
    memory as it is (:func:`is_fresh`); views of the file and anything else are copied."""
    try:
        from transformers import modeling_gguf_pytorch_utils as loader
    except ImportError:  # pragma: no cover - an older transformers: its loader is left alone
        yield
        return
    numpy = getattr(loader, "np", None)
    if numpy is None:  # pragma: no cover
        yield
        return
    loader.np = _NumpyWithoutFreshCopies(numpy)
    try:
        yield
    finally:
        loader.np = numpy


class _NumpyWithoutFreshCopies:
    """numpy, except that ``copy`` of a fresh array (:func:`is_fresh`) is the array itself (the
    loader makes each array, copies it, and drops it: the copy is never needed)."""

    def __init__(self, numpy: Any) -> None:
        self._numpy = numpy

    def __getattr__(self, name: str) -> Any:
        return getattr(self._numpy, name)

    def copy(self, a: Any, *args: Any, **kwargs: Any) -> Any:
        if not args and not kwargs and is_fresh(a):
            return a
        return self._numpy.copy(a, *args, **kwargs)


def is_fresh(a: Any) -> bool:
    """Whether ``a`` is a plain, C-contiguous, writable numpy array that owns its memory: what
    dequantization returns, never a view of the file (which torch must not share)."""
    import numpy as np

    return type(a) is np.ndarray and a.base is None and a.flags.writeable and a.flags.c_contiguous


def release_pages(data: Any) -> None:
    """Drop the resident pages of a view of a read-only memory-mapped file (a GGUF tensor once
    dequantized): they count in the process's memory and are not needed again (a later read
    would fetch them from the file). Does nothing for anything else."""
    import mmap

    mm = getattr(data, "_mmap", None)
    if mm is None or not hasattr(mm, "madvise") or not getattr(data, "size", 0):
        return
    try:
        base = np_address(mm)
        start = data.ctypes.data - base
        page = mmap.PAGESIZE
        first = start // page * page
        mm.madvise(mmap.MADV_DONTNEED, first, start + data.nbytes - first)
    except (ValueError, OSError, AttributeError, TypeError, BufferError):
        return


def np_address(mm: Any) -> int:
    """The address where memory map ``mm`` starts."""
    import numpy as np

    view = np.frombuffer(mm, dtype=np.uint8, count=1)
    address = int(view.ctypes.data)
    del view
    return address


def compact_reader_class(reader_cls: type) -> type:
    """A subclass of gguf's ``GGUFReader`` whose metadata arrays are stored compactly.

    The stock reader keeps one numpy view per array element (two per string): for Gemma 3's
    262,144-token vocabulary (tokens, scores, token types) about a million views, 0.7 GB. Here
    an array field is one view of the file plus the elements' offsets; ``field.parts[i]`` for
    ``i`` in ``field.data`` still gives element ``i`` as a small view (made when asked for), so
    ``field.contents()`` and transformers' readers see the same values (tests/test_hf_load.py).
    Nested arrays and files of the other byte order are read the stock way."""
    import struct

    import numpy as np
    from gguf import GGUFValueType, ReaderField

    class CompactGGUFReader(reader_cls):  # type: ignore[misc, valid-type]
        def _build_fields(self, offs: int, count: int) -> int:
            for _ in range(count):
                orig_offs = offs
                kv_klen, kv_kdata = self._get_str(offs)
                offs += int(kv_klen.nbytes + kv_kdata.nbytes)
                raw_kv_type = self._get(offs, np.uint32)
                offs += int(raw_kv_type.nbytes)
                head = [kv_klen, kv_kdata, raw_kv_type]
                compact = self._compact_array(offs, head) if raw_kv_type[0] == GGUFValueType.ARRAY else None
                if compact is None:
                    size, parts, idxs, types = self._get_field_parts(offs, raw_kv_type[0])
                    parts, data = head + parts, [i + len(head) for i in idxs]
                else:
                    size, parts, data, types = compact
                self._push_field(ReaderField(orig_offs, str(bytes(kv_kdata), encoding="utf-8"), parts, data, types),
                                 skip_sum=True)
                offs += size
            return offs

        def _compact_array(self, offs: int, head: list[Any]) -> tuple[int, Any, Any, list[Any]] | None:
            raw_itype = self._get(offs, np.uint32)
            alen = self._get(offs + 4, np.uint64)
            itype, n, start = GGUFValueType(raw_itype[0]), int(alen[0]), offs + 12
            items: _Items
            if itype == GGUFValueType.STRING and self.byte_order == "I":
                starts, lengths, pos = [], [], start
                buffer = memoryview(self.data)
                try:
                    for _ in range(n):
                        (length,) = struct.unpack_from("<Q", buffer, pos)
                        starts.append(pos + 8)
                        lengths.append(length)
                        pos += 8 + length
                finally:
                    buffer.release()
                items = _Items(self.data, np.array(starts, np.int64), np.array(lengths, np.int64))
                end = pos
            elif itype in self.gguf_scalar_to_np:
                values = self._get(start, self.gguf_scalar_to_np[itype], n)
                items = _Items(values, np.arange(n, dtype=np.int64), np.ones(n, np.int64))
                end = start + int(values.nbytes)
            else:
                return None
            prefix = [*head, raw_itype, alen]
            types = [GGUFValueType.ARRAY, itype] if n else [GGUFValueType.ARRAY]
            return end - offs, _Parts(prefix, items), range(len(prefix), len(prefix) + n), types

    return CompactGGUFReader


class _Items:
    """Elements of one GGUF array: element ``i`` is ``values[starts[i]:starts[i] + lengths[i]]``."""

    def __init__(self, values: Any, starts: Any, lengths: Any) -> None:
        self.values, self.starts, self.lengths = values, starts, lengths

    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, i: int) -> Any:
        start = int(self.starts[i])
        return self.values[start:start + int(self.lengths[i])]


class _Parts:
    """A GGUF field's ``parts``: the stock reader's header views, then one view per element."""

    def __init__(self, prefix: list[Any], items: _Items) -> None:
        self.prefix, self.items = prefix, items

    def __len__(self) -> int:
        return len(self.prefix) + len(self.items)

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        k = len(self.prefix)
        return self.prefix[index] if index < k else self.items[index - k]

    def __iter__(self) -> Iterator[Any]:
        return (self[i] for i in range(len(self)))


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


__all__ = ["DEQUANT_ROWS", "compact_reader_class", "dequantize_in_slices", "gguf_light", "is_fresh", "release_pages", "trim_heap"]
