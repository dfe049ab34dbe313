"""Device lists and ASIC seeds: presets or spec files, checked for existence and kind."""

from pathlib import Path

import pytest

from lepton_codesign import hw_models
from lepton_codesign.codesign.config import ConfigError, load_config, validate_config
from lepton_codesign.codesign.devices import (
    hardware_label,
    hardware_record,
    preset_kinds,
    presets_of_kind,
    resolve_entry,
    spec_kind,
    spec_of_record,
)

GPU_YAML = Path(__file__).parents[2] / "hw_models" / "presets" / "t4.yaml"


def _gpu_file(folder: Path, name: str = "my-gpu", fname: str = "my_gpu.yaml") -> Path:
    text = GPU_YAML.read_text().replace("name: t4", f"name: {name}")
    path = folder / fname
    path.write_text(text)
    return path


def test_preset_kinds_match_the_loaded_specs():
    for name, kind in preset_kinds().items():
        assert spec_kind(hw_models.preset(name)) == kind, name
    assert set(presets_of_kind("gpu")) >= {"t4", "l4", "h100-sxm"}


def test_bad_device_name_fails_before_anything_runs(tmp_path):
    path = tmp_path / "cfg.toml"
    path.write_text("[gpu]\ndevices = ['t4', 'h100']\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    msg = str(info.value)
    assert msg.startswith(f"{path}:2: key gpu.devices[1]: unknown preset 'h100' "
                          "(did you mean 'h100-sxm'?)")
    assert "'l4'" in msg and "spec file" in msg


@pytest.mark.parametrize("section, entry, got", [
    ("gpu", "gemmini-like", "an ASIC"), ("fpga", "t4", "a GPU"), ("gpu", "kv260", "an FPGA"),
    ("asic", "t4", "a GPU"),
])
def test_wrong_kind_is_refused_naming_entry_and_kind(section, entry, got):
    key = "seeds" if section == "asic" else "devices"
    with pytest.raises(ConfigError) as info:
        validate_config({section: {key: [entry]}})
    msg = str(info.value)
    assert f"key {section}.{key}[0]: preset {entry!r} is {got} design" in msg
    for allowed in presets_of_kind(section):
        assert repr(allowed) in msg


def test_spec_file_device_relative_to_config_dir(tmp_path, monkeypatch):
    folder = tmp_path / "conf"
    folder.mkdir()
    spec_path = _gpu_file(folder)
    (folder / "cfg.toml").write_text("[gpu]\ndevices = ['t4', 'my_gpu.yaml']\n")
    monkeypatch.chdir(tmp_path)  # not the config's folder
    cfg = load_config(folder / "cfg.toml")
    assert cfg["gpu"]["devices"] == ["t4", str(spec_path.resolve())]
    assert validate_config(cfg) == cfg  # absolute now: same meaning from any cwd


def test_spec_file_device_relative_to_cwd_for_dicts(tmp_path, monkeypatch):
    _gpu_file(tmp_path)
    monkeypatch.chdir(tmp_path)
    cfg = validate_config({"gpu": {"devices": ["my_gpu.yaml"]}})
    assert cfg["gpu"]["devices"] == [str((tmp_path / "my_gpu.yaml").resolve())]


def test_spec_file_of_wrong_kind_or_missing_or_invalid(tmp_path):
    spec_path = _gpu_file(tmp_path)
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nkind: gpu\npeak_fp32_flops: nan\n")
    with pytest.raises(ConfigError) as info:
        validate_config({"fpga": {"devices": [str(spec_path), "nope.toml", str(bad)]}})
    lines = str(info.value).splitlines()
    assert len(lines) == 3
    assert "fpga.devices[0]" in lines[0] and "describes a GPU design, not an FPGA" in lines[0]
    assert "fpga.devices[1]" in lines[1] and "does not exist" in lines[1]
    assert "fpga.devices[2]" in lines[2] and "invalid spec file" in lines[2]


def test_duplicate_names_across_lists_are_refused(tmp_path):
    a = _gpu_file(tmp_path, name="t4", fname="a.yaml")
    with pytest.raises(ConfigError, match=r"gpu.devices\[1\].*already used by gpu.devices\[0\]"):
        validate_config({"gpu": {"devices": ["t4", str(a)]}})
    with pytest.raises(ConfigError, match="more than once"):
        validate_config({"gpu": {"devices": ["t4", "t4"]}})


def test_seeds_are_resolved(tmp_path):
    cfg = validate_config({"asic": {"seeds": ["gemmini-like", "eyeriss-like"]}})
    assert cfg["asic"]["seeds"] == ["gemmini-like", "eyeriss-like"]
    with pytest.raises(ConfigError, match=r"asic.seeds\[0\]: unknown preset 'gemini-like' "
                       r"\(did you mean 'gemmini-like'\?\)"):
        validate_config({"asic": {"seeds": ["gemini-like"]}})


def test_records_rebuild_the_spec_and_label_it(tmp_path):
    path = str(_gpu_file(tmp_path).resolve())
    entry, spec = resolve_entry(path, "gpu")
    rec = hardware_record(entry, spec)
    assert rec == {"spec_file": path, "name": "my-gpu"}
    assert hardware_label(rec) == "my-gpu"
    assert spec_of_record(rec) == spec
    assert hardware_label(hardware_record("t4", hw_models.preset("t4"))) == "t4"
    assert spec_of_record({"preset": "t4"}) == hw_models.preset("t4")
    assert spec_of_record({"pe_rows": 4}) is None


def test_fpga_records_and_labels_carry_the_design_style():
    for name, design in (("kv260", "overlay"), ("zcu104", "dataflow")):
        rec = hardware_record(name, hw_models.preset(name))
        assert rec == {"preset": name, "design": design}
        assert hardware_label(rec) == f"{name} ({design})"
        assert spec_of_record(rec) == hw_models.preset(name)
