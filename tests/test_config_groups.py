"""Settings grouped by stage, engine options by name (--model-arg), and renamed flags that keep
their earlier names."""

from __future__ import annotations

import dataclasses

import pytest

from socialbias.errors import InputError
from socialbias.eval import build_parser, main
from socialbias.pipeline import CONFIG_GROUPS, RunConfig, load_config_file
from tests.conftest import BBQ_DIR


def test_every_setting_is_in_exactly_one_group():
    grouped = [name for names in CONFIG_GROUPS.values() for name in names]
    assert sorted(grouped) == sorted(f.name for f in dataclasses.fields(RunConfig))
    assert len(grouped) == len(set(grouped))


@pytest.mark.parametrize("key, value, expected", [
    ("dtype", "float32", "float32"),
    ("max-batch-tokens", "4096", 4096),
    ("gpu_memory_utilization", "0.5", 0.5),
    ("tensor_parallel_size", "2", 2),
    ("revision", "none", None),
])
def test_model_arg_converts_to_the_settings_type(key, value, expected):
    name, converted = RunConfig.engine_setting(key, value)
    assert name == key.replace("-", "_") and converted == expected and type(converted) is type(expected)


@pytest.mark.parametrize("spec, message", [
    ("n_boot=10", "not an engine setting"),
    ("max_batch_tokens=lots", "takes a int"),
    ("dtype", "write KEY=VALUE"),
])
def test_bad_model_arg_is_refused_before_anything_runs(spec, message, capsys):
    assert main(["run", "--model", "x", "--model-arg", spec, "--data-dir", str(BBQ_DIR), "--out", "/nonexistent/x"]) == 2
    assert message in capsys.readouterr().err


def test_model_arg_and_its_flag_must_agree(capsys):
    assert main(["run", "--model", "x", "--dtype", "bfloat16", "--model-arg", "dtype=float32",
                 "--data-dir", str(BBQ_DIR), "--out", "/nonexistent/x"]) == 2
    assert "disagree" in capsys.readouterr().err


def test_config_file_takes_model_args_and_data_dir(tmp_path):
    cfg = tmp_path / "study.toml"
    cfg.write_text('model = "m"\ndata_dir = "BBQ/data"\n[model_args]\ndtype = "float32"\nmax_batch_tokens = 2048\n')
    data = load_config_file(cfg)
    assert data["bbq_dir"] == "BBQ/data" and data["dtype"] == "float32" and data["max_batch_tokens"] == 2048
    cfg.write_text('model = "m"\n[model_args]\nlimit = 3\n')
    with pytest.raises(InputError, match="not an engine setting"):
        load_config_file(cfg)


def test_renamed_flags_keep_their_earlier_names():
    parser = build_parser()
    for flag in ("--data-dir", "--bbq-dir"):
        assert parser.parse_args(["prompts", flag, "D"]).bbq_dir == "D"
    for flag in ("--messages", "--template"):
        assert parser.parse_args(["prompts", flag, "merged"]).template == "merged"
    for flag in ("--bootstrap-seed", "--seed"):
        assert parser.parse_args(["score", "f.jsonl", flag, "7"]).seed == 7
    args = parser.parse_args(["run", "--model-arg", "dtype=float32", "--model-arg", "device=cpu"])
    assert args.model_args == ["dtype=float32", "device=cpu"]
