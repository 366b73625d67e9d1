"""GGUF loading (socialbias.backends.hf_load.gguf_light): one parse per file, sliced
dequantization with the same values, the gguf module restored afterwards."""

from __future__ import annotations

import numpy as np
import pytest

gguf = pytest.importorskip("gguf")

from socialbias.backends.hf_load import dequantize_in_slices, gguf_light  # noqa: E402


@pytest.mark.parametrize("qtype", ["Q8_0", "Q4_0", "F16"])
def test_sliced_dequantization_gives_the_same_values(qtype):
    kind = gguf.GGMLQuantizationType[qtype]
    weights = np.random.default_rng(1).normal(size=(1000, 64)).astype(np.float32)
    data = gguf.quantize(weights, kind)
    whole = gguf.dequantize(data, kind)
    sliced = dequantize_in_slices(gguf.dequantize, data, kind, rows=64)  # 16 slices, the last one short
    assert sliced.shape == whole.shape == (1000, 64) and sliced.dtype == whole.dtype
    assert np.array_equal(sliced, whole)
    assert not np.array_equal(whole, np.zeros_like(whole))


def test_small_or_flat_tensors_are_dequantized_in_one_call():
    calls = []

    def fake(data, qtype):
        calls.append(data.shape)
        return data.astype(np.float32)

    dequantize_in_slices(fake, np.ones((10, 4), np.uint8), None, rows=64)
    dequantize_in_slices(fake, np.ones(1000, np.uint8), None, rows=64)
    assert calls == [(10, 4), (1000,)]
    dequantize_in_slices(fake, np.ones((130, 4), np.uint8), None, rows=64)
    assert calls[2:] == [(64, 4), (64, 4), (2, 4)]


def test_a_gguf_file_is_parsed_once_inside_the_block_and_the_module_is_restored(tmp_path):
    path = tmp_path / "tiny.gguf"
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_tensor("w", np.arange(8, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    reader_cls, dequantize = gguf.GGUFReader, gguf.dequantize
    with gguf_light():
        first, second = gguf.GGUFReader(path), gguf.GGUFReader(str(path))
        assert first is second  # one parse for tokenizer, config and weights
        assert gguf.dequantize is not dequantize
        assert np.array_equal(np.asarray(first.tensors[0].data), np.arange(8, dtype=np.float32))
    assert gguf.GGUFReader is reader_cls and gguf.dequantize is dequantize
    assert gguf.GGUFReader(path) is not first  # outside the block: a fresh parse
