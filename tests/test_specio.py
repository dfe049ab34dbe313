"""Spec files: YAML / TOML loading, presets, and strict validation errors.

Every malformed spec must raise ``hw_models.SpecError`` whose message names the file,
the offending key and what is allowed there.
"""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

from lepton_codesign import hw_models as hw
from lepton_codesign.hw_models.specio import spec_from_dict

GOOD_YAML = """\
version: 1
kind: asic
pe_rows: 16
pe_cols: 8
dataflow: os
freq_hz: 1e9
ifmap_sram_bytes: 65536
dram_bandwidth_bytes_per_s: 12.8e9
precision_scalable: true
sparsity_support: skipping
"""

GOOD_TOML = """\
version = 1
kind = "asic"
pe_rows = 16
pe_cols = 8
dataflow = "os"
freq_hz = 1e9
ifmap_sram_bytes = 65536
dram_bandwidth_bytes_per_s = 12.8e9
precision_scalable = true
sparsity_support = "skipping"
"""


def _write(tmp_path, text, suffix=".yaml", name="accel"):
    path = tmp_path / f"{name}{suffix}"
    path.write_text(textwrap.dedent(text))
    return path


def _with(text: str, key: str, value: str | None) -> str:
    """GOOD_YAML with ``key`` set to the raw YAML ``value`` (None removes the key)."""
    lines = [ln for ln in text.splitlines() if not ln.startswith(f"{key}:")]
    if value is not None:
        lines.append(f"{key}: {value}")
    return "\n".join(lines) + "\n"


def test_yaml_spec_loads_with_codes_and_yaml12_floats(tmp_path):
    spec = hw.load_spec(_write(tmp_path, GOOD_YAML))
    assert isinstance(spec, hw.AsicSpec)
    assert spec.name == "accel"  # defaults to the file stem
    assert (spec.pe_rows, spec.pe_cols) == (16.0, 8.0)
    assert int(spec.dataflow) == 0 and int(spec.sparsity_support) == 2
    # "1e9" and "12.8e9" are floats (PyYAML alone would read them as strings).
    assert spec.freq_hz == 1e9 and spec.dram_bandwidth_bytes_per_s == 12.8e9
    assert spec.precision_scalable == 1.0
    # Unset fields keep their documented defaults.
    assert spec.filter_sram_bytes == hw.AsicSpec(1, 1).filter_sram_bytes


def test_toml_spec_equals_yaml_spec(tmp_path):
    y = hw.load_spec(_write(tmp_path, GOOD_YAML))
    t = hw.load_spec(_write(tmp_path, GOOD_TOML, ".toml"))
    assert y.describe() == t.describe()


def test_name_key_and_yml_suffix(tmp_path):
    spec = hw.load_spec(_write(tmp_path, GOOD_YAML + "name: my-chip\n", ".yml"))
    assert spec.name == "my-chip"


# (yaml text, key named in the message, text that must appear among the allowed values)
ERROR_CASES = {
    "unknown key": (_with(GOOD_YAML, "pe_rowz", "16"), "pe_rowz", "'pe_rows'"),
    "duplicate key": (GOOD_YAML + "pe_rows: 32\n", "pe_rows", "at most once"),
    "string for int": (_with(GOOD_YAML, "pe_rows", '"sixteen"'), "pe_rows", "an integer > 0"),
    "fraction for int": (_with(GOOD_YAML, "pe_cols", "8.5"), "pe_cols", "an integer > 0"),
    "bool for number": (_with(GOOD_YAML, "freq_hz", "true"), "freq_hz", "a number > 0"),
    "list for number": (_with(GOOD_YAML, "freq_hz", "[1, 2]"), "freq_hz", "a number > 0"),
    "number for bool": (_with(GOOD_YAML, "precision_scalable", "2"), "precision_scalable",
                        "true or false"),
    "missing required": (_with(GOOD_YAML, "freq_hz", None), "freq_hz", "a number > 0"),
    "zero size": (_with(GOOD_YAML, "ifmap_sram_bytes", "0"), "ifmap_sram_bytes", "> 0"),
    "negative bandwidth": (_with(GOOD_YAML, "dram_bandwidth_bytes_per_s", "-1e9"),
                           "dram_bandwidth_bytes_per_s", ">= 1000 and <= 1e+16"),
    "zero rows": (_with(GOOD_YAML, "pe_rows", "0"), "pe_rows", "> 0"),
    "infinite clock": (_with(GOOD_YAML, "freq_hz", ".inf"), "freq_hz", "a number > 0"),
    "node out of range": (_with(GOOD_YAML, "node_nm", "1"), "node_nm", ">= 3 and <= 180"),
    "pe_bits too wide": (_with(GOOD_YAML, "pe_bits", "64"), "pe_bits", "<= 32"),
    "unknown dataflow": (_with(GOOD_YAML, "dataflow", "rs"), "dataflow", "['os', 'ws', 'is']"),
    "unknown sparsity": (_with(GOOD_YAML, "sparsity_support", "magic"), "sparsity_support",
                         "'zero-gating'"),
    "wrong version": (_with(GOOD_YAML, "version", "2"), "version", "allowed: 1"),
    "bool version": (_with(GOOD_YAML, "version", "true"), "version", "allowed: 1"),
    "missing version": (_with(GOOD_YAML, "version", None), "version", "allowed: 1"),
    "unknown kind": (_with(GOOD_YAML, "kind", "tpu"), "kind", "'asic'"),
    "missing kind": (_with(GOOD_YAML, "kind", None), "kind", "'asic'"),
    "non-string name": (GOOD_YAML + "name: 5\n", "name", "string"),
}


@pytest.mark.parametrize("case", sorted(ERROR_CASES))
def test_invalid_yaml_specs_raise_spec_error_naming_file_key_allowed(tmp_path, case):
    text, key, allowed = ERROR_CASES[case]
    path = _write(tmp_path, text)
    with pytest.raises(hw.SpecError) as info:
        hw.load_spec(path)
    msg = str(info.value)
    assert str(path) in msg
    assert f"'{key}'" in msg
    assert allowed in msg
    assert "allowed" in msg


def test_toml_duplicate_key_names_the_key(tmp_path):
    path = _write(tmp_path, GOOD_TOML + "pe_rows = 32\n", ".toml")
    with pytest.raises(hw.SpecError) as info:
        hw.load_spec(path)
    msg = str(info.value)
    assert str(path) in msg and "'pe_rows'" in msg and "at most once" in msg


def test_toml_validation_errors_match_yaml(tmp_path):
    path = _write(tmp_path, GOOD_TOML.replace('"os"', '"diagonal"'), ".toml")
    with pytest.raises(hw.SpecError, match=r"'dataflow'.*\['os', 'ws', 'is'\]") as info:
        hw.load_spec(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    ("text", "suffix", "expected"),
    [
        ("version: 1\nkind: asic\npe_rows: [16\n", ".yaml", "not valid YAML"),
        ("version = 1\nkind = \n", ".toml", "not valid TOML"),
        # Python object tags are refused by the safe loader (no code execution).
        ("version: 1\nkind: asic\npe_rows: !!python/object/apply:os.getcwd []\n", ".yaml",
         "not valid YAML"),
        ("- 1\n- 2\n", ".yaml", "top level must be a mapping"),
        ("version: 1\n? [1, 2]\n: 3\n", ".yaml", "allowed: a field name"),  # list as key
        ("", ".yaml", "top level must be a mapping"),
        ("{}", ".json", "allowed: .yaml, .yml, .toml"),
    ],
)
def test_malformed_files_raise_spec_error_with_path(tmp_path, text, suffix, expected):
    path = _write(tmp_path, text, suffix)
    with pytest.raises(hw.SpecError) as info:
        hw.load_spec(path)
    assert str(path) in str(info.value) and expected in str(info.value)


def test_bad_yaml_message_points_at_the_line(tmp_path):
    path = _write(tmp_path, "version: 1\nkind: asic\npe_rows: 16\n  pe_cols: 8\n")
    with pytest.raises(hw.SpecError, match="line"):
        hw.load_spec(path)


def test_missing_file_and_error_type(tmp_path):
    path = tmp_path / "nope.yaml"
    with pytest.raises(hw.SpecError, match="nope.yaml"):
        hw.load_spec(path)
    assert issubclass(hw.SpecError, ValueError)


def test_spec_from_dict_uses_where_in_messages():
    with pytest.raises(hw.SpecError, match=r"^<cli>: key 'pe_cols': missing"):
        spec_from_dict({"version": 1, "kind": "asic", "pe_rows": 4, "dataflow": "ws",
                        "freq_hz": 1e9}, "<cli>")


def test_presets_and_resolve_spec(tmp_path):
    names = hw.preset_names()
    assert set(names) >= {"tpuv1-like", "eyeriss-like", "gemmini-like", "nvdla-like"}
    with pytest.raises(hw.SpecError, match=r"unknown preset 'tpu-v9'.*gemmini-like"):
        hw.preset("tpu-v9")
    assert hw.resolve_spec("gemmini-like").name == "gemmini-like"
    from_file = hw.resolve_spec(str(_write(tmp_path, GOOD_YAML)))
    assert from_file.name == "accel"


def test_loaded_spec_evaluates():
    spec = hw.preset("gemmini-like")
    costs = hw.evaluate(hw.gemm_workload([(32, 32, 32)]), spec)
    assert np.isfinite(float(costs.total_latency_s)) and float(costs.total_latency_s) > 0


# --- did you mean / line numbers ----------------------------------------------------


def test_unknown_key_suggests_the_close_one_with_its_line(tmp_path):
    path = _write(tmp_path, GOOD_YAML + "pe_colz: 8\n")
    with pytest.raises(hw.SpecError) as err:
        hw.load_spec(path)
    msg = str(err.value)
    assert msg.startswith(f"{path}:11: key 'pe_colz': unknown")
    assert "unknown for kind 'asic' (did you mean 'pe_cols'?); allowed keys" in msg


def test_bad_value_names_its_line_in_yaml_and_toml(tmp_path):
    with pytest.raises(hw.SpecError, match=r"accel\.yaml:5: key 'dataflow': got 'wss' "
                                           r"\(did you mean 'ws'\?\); allowed: one of"):
        hw.load_spec(_write(tmp_path, GOOD_YAML.replace("dataflow: os", "dataflow: wss")))
    with pytest.raises(hw.SpecError, match=r"accel\.toml:3: key 'pe_rows': got -4"):
        hw.load_spec(_write(tmp_path, GOOD_TOML.replace("pe_rows = 16", "pe_rows = -4"), ".toml"))


def test_unknown_kind_and_preset_suggest():
    with pytest.raises(hw.SpecError, match=r"got 'asci' \(did you mean 'asic'\?\); allowed"):
        spec_from_dict({"version": 1, "kind": "asci"})
    with pytest.raises(hw.SpecError, match="unknown preset 'gemini-like' \\(did you mean "
                                           "'gemmini-like'\\?\\); allowed: \\["):
        hw.preset("gemini-like")
    with pytest.raises(hw.SpecError, match="unknown preset 'zzzz'; allowed: \\["):
        hw.resolve_spec("zzzz")


# --- OS-level faults ----------------------------------------------------------------


def test_directory_given_as_spec(tmp_path):
    d = tmp_path / "specs.yaml"
    d.mkdir()
    for arg in (d, str(tmp_path)):
        with pytest.raises(hw.SpecError, match="is a directory; allowed: a spec file"):
            hw.resolve_spec(str(arg)) if isinstance(arg, str) else hw.load_spec(arg)


def test_non_utf8_file_names_line_and_byte(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_bytes(GOOD_YAML.encode() + b"name: caf\xe9\n")
    with pytest.raises(hw.SpecError, match=r"bad\.yaml:11: byte 0xe9 at offset \d+ is not "
                                           "UTF-8; allowed: UTF-8 text"):
        hw.load_spec(path)


def test_unreadable_file_is_a_spec_error(tmp_path, monkeypatch):
    path = _write(tmp_path, GOOD_YAML)

    def denied(self):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(type(path), "read_bytes", denied)
    with pytest.raises(hw.SpecError, match=r"accel\.yaml: cannot be read \(permission denied\)"):
        hw.load_spec(path)


def test_oversized_file_is_refused(tmp_path):
    path = _write(tmp_path, GOOD_YAML + "#" * (1 << 20) + "\n")
    with pytest.raises(hw.SpecError, match="bytes; allowed: a spec file of at most 1048576"):
        hw.load_spec(path)


# --- YAML merge keys and alias bombs ------------------------------------------------


def test_yaml_merge_keys_are_accepted_and_own_keys_win(tmp_path):
    text = ("defaults: &base\n  pe_rows: 16\n  pe_cols: 8\n  freq_hz: 1e9\n"
            "version: 1\nkind: asic\ndataflow: ws\n<<: *base\npe_cols: 32\n")
    # 'defaults' itself is not a field: refused by name (merge parsing worked).
    with pytest.raises(hw.SpecError, match="key 'defaults': unknown"):
        hw.load_spec(_write(tmp_path, text))
    spec = hw.load_spec(_write(tmp_path, "version: 1\nkind: asic\ndataflow: ws\n"
                                         "<<: {pe_rows: 16, pe_cols: 8, freq_hz: 1e9}\n"
                                         "pe_cols: 32\n"))
    assert (float(spec.pe_rows), float(spec.pe_cols), float(spec.freq_hz)) == (16, 32, 1e9)


def test_yaml_duplicate_own_keys_still_refused_with_merge(tmp_path):
    text = "version: 1\nkind: asic\n<<: {pe_rows: 4}\npe_cols: 8\npe_cols: 9\n"
    with pytest.raises(hw.SpecError, match=r"key 'pe_cols': duplicate \(line 5\)"):
        hw.load_spec(_write(tmp_path, text))


def test_alias_bomb_is_refused_quickly(tmp_path):
    import time

    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, 10):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    path = _write(tmp_path, "version: 1\nkind: asic\n" + "\n".join(lines) + "\n")
    assert path.stat().st_size < 1000
    t0 = time.perf_counter()
    with pytest.raises(hw.SpecError, match="expands to more than 10000 values through "
                                           "aliases"):
        hw.load_spec(path)
    assert time.perf_counter() - t0 < 2.0


def test_recursive_alias_is_refused(tmp_path):
    with pytest.raises(hw.SpecError, match="recursive alias"):
        hw.load_spec(_write(tmp_path, "version: 1\nkind: asic\nx: &x [1, *x]\n"))


def test_error_messages_truncate_huge_values(tmp_path):
    big = "[" + ", ".join(["1"] * 5000) + "]"
    with pytest.raises(hw.SpecError) as err:
        hw.load_spec(_write(tmp_path, _with(GOOD_YAML, "freq_hz", big)))
    assert len(str(err.value)) < 400 and "freq_hz" in str(err.value)
