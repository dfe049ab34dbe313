"""Co-design config validation: one clear message naming file, line, key; nothing runs."""

import math
import os
import sys
import tomllib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lepton_codesign.cli import main
from lepton_codesign.codesign.config import (
    ConfigError,
    default_config,
    default_config_text,
    load_config,
    validate_config,
)
from lepton_codesign.codesign.config_errors import find_line
from lepton_codesign.codesign.config_schema import FLOAT_BITS, MAX_BITS, MIN_BITS, NODE_RANGE_NM


def _load(tmp_path, text: str) -> str:
    path = tmp_path / "cfg.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return str(info.value)


def test_embedded_default_is_valid_and_unchanged():
    cfg = default_config()
    raw = tomllib.loads(default_config_text())
    assert cfg["run"]["name"] == "quickstart"
    assert any(p["reference"] for p in cfg["points"])
    assert set(cfg["hardware"]["families"]) == {"asic", "fpga", "gpu"}
    for section, values in raw.items():  # every value of the file comes through as written
        if section == "points":
            for got, want in zip(cfg["points"], values, strict=True):
                assert {k: got[k] for k in want} == want
        else:
            assert {k: cfg[section][k] for k in values} == values
    assert cfg["asic"]["seeds"] == []
    assert validate_config(cfg) == cfg  # idempotent: codesign() re-validates


@pytest.mark.parametrize("text, line, key, allowed", [
    ("[run]\nnmae = 'x'\n", 2, "run.nmae", "did you mean 'name'?"),
    ("[train]\nepoch = 3\n", 2, "train.epoch", "did you mean 'epochs'?"),
    ("[hardwre]\nfamilies = ['asic', 'gpu']\n", 1, "hardwre", "did you mean 'hardware'?"),
    ("[model]\nbatch = 0\n", 2, "model.batch", "an integer 1..2147483647"),
    ("[model]\nbatch = 2147483648\n", 2, "model.batch", "an integer 1..2147483647"),
    ("[train]\nepochs = 'ten'\n", 2, "train.epochs", "got string 'ten'"),
    ("[train]\nepochs = 3.0\n", 2, "train.epochs", "got float 3.0"),
    ("[train]\nepochs = true\n", 2, "train.epochs", "got boolean true"),
    ("[train]\n\nlearning_rate = '0.1'\n", 3, "train.learning_rate", "got string"),
    ("[hardware]\nfamilies = ['asic', 'tpu']\n", 2, "hardware.families[1]", "'tpu'"),
    ("[hardware]\nfamilies = []\n", 2, "hardware.families", "non-empty"),
    ("[data]\ndataset = 'mnist'\n", 2, "data.dataset", "did you mean 'mnist1d'?"),
    ("[[points]]\nname = 'a'\n[[points]]\nname = 'b'\nsparsity = 1.5\n", 5,
     "points[1].sparsity", "[0, 0.999]"),
    ("[[points]]\nname = 'a'\nstructure = 'nm'\nnm = [4, 2]\n", 4, "points[0].nm", "N <= M"),
    ("[[points]]\nname = 'a'\nnm = [0, 4]\n", 3, "points[0].nm[0]", "N <= M"),
    ("[[points]]\nname = 'a'\nweight_bits = 32\nlearn_bits = true\n", 4,
     "points[0].learn_bits", "weight_bits < 32"),
    ("[asic]\npe_rows = [64, 4]\n", 2, "asic.pe_rows", "low > high"),
    ("[asic]\nsram_kib = [8, 8]\n", 2, "asic.sram_kib", "0 < low < high"),
    ("[asic]\ndataflows = ['os', 'os']\n", 2, "asic.dataflows", "given more than once"),
    ("[asic]\nprecision_scalable = [true]\n", 2, "asic.precision_scalable[0]", "boolean"),
    ("[objectives]\nnames = ['error']\n", 2, "objectives.names", "at least 2"),
    ("[objectives]\nnames = ['error', 'error']\n", 2, "objectives.names", "more than once"),
    ("[model]\nname = 'mlpp'\n", 2, "model.name", "did you mean 'mlp'?"),
    ("[model]\nname = 'no_such_pkg_b1:make'\n", 2, "model.name", "not importable"),
    ("[model]\nname = 'os:not an identifier'\n", 2, "model.name", "package.module:factory"),
    ("[run]\nseed = -1\n", 2, "run.seed", "0..4294967295"),
    ("[hardware]\nfamilies = ['gpu']\n[gpu]\ndevices = []\n", 4, "gpu.devices", "empty"),
])
def test_bad_values_name_file_line_and_key(tmp_path, text, line, key, allowed):
    msg = _load(tmp_path, text)
    assert msg.startswith(f"{tmp_path / 'cfg.toml'}:{line}: "), msg
    assert f" {key}: " in msg
    assert allowed in msg
    assert "\n" not in msg  # one problem, one line


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "+nan"])
@pytest.mark.parametrize("key", ["[train]\nlearning_rate", "[constraints]\nmin_accuracy",
                                 "[constraints]\nmax_latency_s", "[constraints]\nmax_area_mm2",
                                 "[[points]]\nsparsity"])
def test_nan_and_inf_never_pass(tmp_path, key, value):
    msg = _load(tmp_path, f"{key} = {value}\n")
    assert f"{value.lstrip('+')} is not allowed; allowed: a" in msg


def test_nan_message_matches_the_documented_form(tmp_path):
    msg = _load(tmp_path, "[train]\nlearning_rate = nan\n")
    assert msg == (f"{tmp_path / 'cfg.toml'}:2: key train.learning_rate: nan is not allowed; "
                   "allowed: a finite number > 0")


@pytest.mark.parametrize("text, key", [
    ("node_nm = [1000]", "asic.node_nm[0]"),
    ("node_nm = [0]", "asic.node_nm[0]"),
    ("node_nm = [7, nan]", "asic.node_nm[1]"),
    ("pe_rows = ['a', 'b']", "asic.pe_rows[0]"),
    ("pe_cols = [0, 8]", "asic.pe_cols[0]"),
    ("freq_hz = [2e8, inf]", "asic.freq_hz[1]"),
    ("dram_gbps = [-1.0, 8.0]", "asic.dram_gbps[0]"),
    ("dram_gbps = [1.0, 2.0, 3.0]", "asic.dram_gbps"),
    ("sparsity_support = ['nm', 'skip']", "asic.sparsity_support[1]"),
])
def test_list_elements_are_checked(tmp_path, text, key):
    assert f"key {key}: " in _load(tmp_path, f"[asic]\n{text}\n")


def test_node_range_is_inside_every_technology_table():
    from lepton_codesign.hw_models import constants as C

    for table in (C._NODES_NM, C._SRAM_NODES_NM, C._WAFER_NODES_NM, C._MASK_NODES_NM):
        assert table.min() <= NODE_RANGE_NM[0] and NODE_RANGE_NM[1] <= table.max()


def test_bits_allowed_are_exactly_what_a_trial_accepts():
    from lepton_codesign.codesign.trials import FLOAT_BITS as TRIAL_FLOAT
    from lepton_codesign.codesign.trials import policy_for
    from lepton_codesign.compress import quant

    assert (MIN_BITS, MAX_BITS, FLOAT_BITS) == (quant.MIN_BITS, quant.MAX_BITS, TRIAL_FLOAT)
    base = {"name": "p", "sparsity": 0.5, "structure": "unstructured", "nm": [2, 4],
            "learn_bits": False, "distill": False, "reference": False}
    for bits in range(0, 40):
        raw = {"points": [{"name": "p", "weight_bits": bits, "act_bits": bits}]}
        try:
            validate_config(raw)
            ok = True
        except ConfigError as err:
            assert "points[0].weight_bits" in str(err) and "points[0].act_bits" in str(err)
            ok = False
        try:
            policy_for({**base, "weight_bits": bits, "act_bits": bits})
            trial_ok = True
        except ValueError:
            trial_ok = False
        assert ok == (MIN_BITS <= bits <= MAX_BITS or bits == FLOAT_BITS), bits
        if bits <= FLOAT_BITS:  # above 32 a trial silently trains a float model: refused
            assert trial_ok == ok, bits


@settings(max_examples=60, deadline=None)
@given(st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-5, 5),
                 st.booleans(), st.text(max_size=3)))
def test_learning_rate_is_finite_positive_number(value):
    ok = (isinstance(value, int | float) and not isinstance(value, bool)
          and math.isfinite(value) and value > 0)
    try:
        cfg = validate_config({"train": {"learning_rate": value}, "hardware": {
            "families": ["asic"]}})
        assert ok and cfg["train"]["learning_rate"] == value
    except ConfigError as err:
        assert not ok and "train.learning_rate" in str(err)


def test_all_errors_are_listed_in_file_order(tmp_path):
    msg = _load(tmp_path, "[train]\nepochs = 0\nlearning_rate = nan\n[model]\nbatch = -1\n")
    lines = msg.splitlines()
    assert [ln.split(": key ")[1].split(":")[0] for ln in lines] == [
        "train.epochs", "train.learning_rate", "model.batch"]
    assert [ln.split(":")[1] for ln in lines] == ["2", "3", "5"]


def test_dict_config_has_no_line_numbers():
    with pytest.raises(ConfigError, match=r"^<config>: key train.epochs: 0 is not allowed"):
        validate_config({"train": {"epochs": 0}})


def test_find_line_handles_arrays_of_tables_and_dotted_keys():
    text = "train.epochs = 3\n[[points]]\nname = 'a'\n[[points]]\n# c\nname = 'b'\n"
    assert find_line(text, ("train", "epochs")) == 1
    assert find_line(text, ("points", 1, "name")) == 6
    assert find_line(text, ("points", 1)) == 4
    assert find_line(text, ("points", 0, "nm")) is None
    assert find_line(None, ("train",)) is None


def test_duplicate_point_names():
    with pytest.raises(ConfigError, match="unique"):
        validate_config({"points": [{"name": "a"}, {"name": "a"}]})


def test_not_toml(tmp_path):
    path = tmp_path / "cfg.toml"
    path.write_text("[run\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(path)


def test_directory_is_refused(tmp_path):
    with pytest.raises(ConfigError, match=f"^{tmp_path}: is a directory"):
        load_config(tmp_path)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "nope.toml")


def test_non_utf8_names_file_and_line(tmp_path):
    path = tmp_path / "cfg.toml"
    path.write_bytes(b"[run]\nname = 'caf\xe9'\n")
    with pytest.raises(ConfigError, match=rf"^{path}:2: not UTF-8 text \(byte 0xe9"):
        load_config(path)


@pytest.mark.skipif(sys.platform == "win32" or os.geteuid() == 0,
                    reason="root reads files whatever their mode")
def test_unreadable_file(tmp_path):
    path = tmp_path / "cfg.toml"
    path.write_text("[run]\n")
    path.chmod(0)
    try:
        with pytest.raises(ConfigError, match=f"^{path}: cannot be read"):
            load_config(path)
    finally:
        path.chmod(0o600)


def test_read_error_names_the_file(tmp_path, monkeypatch):
    path = tmp_path / "cfg.toml"
    path.write_text("[run]\n")

    def deny(self):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(type(path), "read_bytes", deny)
    with pytest.raises(ConfigError, match=f"^{path}: cannot be read: Permission denied"):
        load_config(path)


def test_top_level_must_be_a_table():
    with pytest.raises(ConfigError, match="top level must be a table"):
        validate_config([1, 2])


def test_cli_search_bad_config_runs_nothing(tmp_path, capsys):
    path = tmp_path / "cfg.toml"
    path.write_text("[train]\nlearning_rate = -1.0\n")
    out = tmp_path / "run"
    assert main(["search", "--config", str(path), "--out", str(out)]) == 2
    assert "learning_rate" in capsys.readouterr().err
    assert not out.exists()
