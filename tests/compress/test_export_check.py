"""Compressed-model exports are validated when read: clear errors naming file, layer, key."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
from flax import nnx

from lepton_codesign.compress import (
    CompressionPolicy,
    compress,
    export_compressed,
    import_compressed,
    load_exported,
    save_exported,
)
from lepton_codesign.compress.export_check import ExportError, check_export
from lepton_codesign.hw_models import SpecError
from lepton_codesign.models import MLP


@pytest.fixture(scope="module")
def exported():
    model = compress(MLP((8, 6, 4), rngs=nnx.Rngs(0)),
                     CompressionPolicy(sparsity=0.5, method="magnitude", weight_bits=4,
                                       act_bits=8))
    return export_compressed(model)


def _first(exp):
    return next(iter(exp["layers"]))


CORRUPT = {
    "bits 0": ("weight_bits", 0, r"key 'weight_bits': got 0; allowed: an integer in 2\.\.16"),
    "bits float": ("weight_bits", 4.5, r"key 'weight_bits': got 4\.5"),
    "nan step": ("step", lambda e: np.full_like(e["step"], np.nan),
                 r"key 'step': got a non-finite value"),
    "zero step": ("step", lambda e: np.zeros_like(e["step"]), r"key 'step': got 0\.0"),
    "mask shape": ("mask", lambda e: e["mask"][:-1], r"key 'mask': got shape"),
    "mask values": ("mask", lambda e: e["mask"].astype(np.int8) * 3,
                    r"key 'mask': got values other than 0 and 1"),
    "empty mask": ("mask", lambda e: np.zeros_like(e["mask"]), r"key .mask.: .*\(density 0\)"),
    "codes range": ("codes", lambda e: e["codes"] * 0 + 100,
                    r"key 'codes': got \|code\| 100 for 4-bit weights; "
                    r"allowed: integers in -7\.\.7"),
    "codes float": ("codes", lambda e: e["codes"].astype(np.float32),
                    r"key 'codes': got dtype float32"),
    "bias shape": ("bias", lambda e: np.zeros(99, np.float32), r"key 'bias': got shape \(99,\)"),
    "structure": ("structure", "chanel", r"key 'structure': got 'chanel' \(did you mean "
                                         "'channel'"),
    "kernel shape": ("kernel_shape", [8, -6], r"key 'kernel_shape': got \[8, -6\]"),
    "act range": ("act_range", float("inf"), r"key 'act_range': got inf"),
    "unknown key": ("codez", 1, r"key 'codez': unknown \(did you mean 'codes'"),
    "missing key": ("n", None, r"key 'n': missing"),
}


@pytest.mark.parametrize("case", sorted(CORRUPT))
def test_corrupt_export_is_refused_at_load_and_import(tmp_path, exported, case):
    key, value, match = CORRUPT[case]
    bad = copy.deepcopy(exported)
    entry = bad["layers"][_first(bad)]
    if value is None:
        del entry[key]
    else:
        entry[key] = value(entry) if callable(value) else value
    path = tmp_path / "bad.npz"
    save_exported(path, bad)
    with pytest.raises(ExportError, match=f"{path}: layer '{_first(bad)}': " + match):
        load_exported(path)
    with pytest.raises(ExportError, match="<export>: layer .*" + match):
        import_compressed(MLP((8, 6, 4), rngs=nnx.Rngs(1)), bad)


def test_good_export_round_trips_and_error_is_a_value_error(tmp_path, exported):
    save_exported(tmp_path / "ok.npz", exported)
    assert check_export(load_exported(tmp_path / "ok.npz")) is not None
    assert issubclass(ExportError, SpecError) and issubclass(ExportError, ValueError)


def test_unreadable_and_foreign_files(tmp_path, exported):
    with pytest.raises(ExportError, match="missing.npz: cannot be read as an export"):
        load_exported(tmp_path / "missing.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip file")
    with pytest.raises(ExportError, match="junk.npz: cannot be read as an export"):
        load_exported(tmp_path / "junk.npz")
    np.savez(tmp_path / "plain.npz", x=np.zeros(3))
    with pytest.raises(ExportError, match="plain.npz: no '__meta__' entry"):
        load_exported(tmp_path / "plain.npz")
    meta = {"format": "lepton-compressed-v1",
            "layers": {"l": {"mask": {"array": "l::nothing"}}}}
    np.savez(tmp_path / "dangling.npz",
             __meta__=np.frombuffer(json.dumps(meta).encode(), np.uint8))
    with pytest.raises(ExportError, match="layer 'l': key 'mask': array 'l::nothing' is "
                                          "missing"):
        load_exported(tmp_path / "dangling.npz")
    with pytest.raises(ExportError, match="key 'format': got 'v0'"):
        check_export({"format": "v0", "layers": {}})
