"""Co-design config validation: clear messages naming file and key; nothing runs."""

import pytest

from lepton_codesign.cli import main
from lepton_codesign.codesign.config import (
    ConfigError,
    default_config,
    load_config,
    validate_config,
)


def test_embedded_default_is_valid():
    cfg = default_config()
    assert cfg["run"]["name"] == "quickstart"
    assert any(p["reference"] for p in cfg["points"])
    assert set(cfg["hardware"]["families"]) == {"asic", "fpga", "gpu"}


@pytest.mark.parametrize("text, key, allowed", [
    ("[run]\nnmae = 'x'\n", "run.'nmae'", "allowed"),
    ("[model]\nbatch = 0\n", "model.batch", ">= 1"),
    ("[train]\nepochs = 'ten'\n", "train.epochs", "expected int"),
    ("[hardware]\nfamilies = ['asic', 'tpu']\n", "hardware.families", "one of"),
    ("[bogus]\nx = 1\n", "bogus", "allowed"),
    ("[[points]]\nname = 'a'\nsparsity = 1.5\n", "points[0].sparsity", "<= 0.999"),
    ("[[points]]\nname = 'a'\nstructure = 'nm'\nnm = [4, 2]\n", "points[0].nm", "low <= high"),
    ("[asic]\npe_rows = [64, 4]\n", "asic.pe_rows", "low <= high"),
    ("[objectives]\nnames = ['error']\n", "objectives.names", "at least 2"),
])
def test_bad_values_name_file_and_key(tmp_path, text, key, allowed):
    path = tmp_path / "cfg.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    msg = str(info.value)
    assert str(path) in msg
    assert key.split(".")[-1].strip("'") in msg
    assert allowed in msg


def test_duplicate_point_names():
    with pytest.raises(ConfigError, match="unique"):
        validate_config({"points": [{"name": "a"}, {"name": "a"}]})


def test_not_toml(tmp_path):
    path = tmp_path / "cfg.toml"
    path.write_text("[run\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(path)


def test_cli_search_bad_config_runs_nothing(tmp_path, capsys):
    path = tmp_path / "cfg.toml"
    path.write_text("[train]\nlearning_rate = -1.0\n")
    out = tmp_path / "run"
    assert main(["search", "--config", str(path), "--out", str(out)]) == 2
    assert "learning_rate" in capsys.readouterr().err
    assert not out.exists()
