"""Validation of a compressed-model export (``export_compressed`` / ``load_exported``).

An export read from disk is untrusted input: every layer entry is checked for its keys,
types, shapes (against its ``kernel_shape``), bit-widths, densities (a 0/1 mask),
integer codes within their bit-width's range and finite values before
``import_compressed`` uses it. Errors are ``ExportError`` (a ``ValueError``) naming the
file (or ``<export>``), the layer, the key and what is allowed.

Example:
    >>> check_export({"format": "v0", "layers": {}}, "m.npz")
    Traceback (most recent call last):
    ...
    lepton_codesign.compress.export_check.ExportError: m.npz: key 'format': got 'v0'; ...
"""

from __future__ import annotations

import math

import numpy as np

from lepton_codesign.compress.structures import STRUCTURES
from lepton_codesign.hw_models.schema import SpecError, closest, short

EXPORT_FORMAT = "lepton-compressed-v1"
FLOAT_BITS = 32  # bits of an unquantised float32 tensor (``state`` re-exports it)
# Integer codes are stored as int8 / int16 (``quant.quantize_int``) and imported layers
# use ``bit_range=(2, 16)``, so quantised widths are 2..16 bits.
MIN_BITS, MAX_INT_BITS = 2, 16
_KEYS = ("kind", "kernel_shape", "structure", "n", "m", "mask", "bias", "act_signed",
         "weight_bits", "act_bits", "act_range", "codes", "step", "kernel")


class ExportError(SpecError):
    """A compressed-model export is malformed (names file, layer, key, what is allowed)."""


def _int(value, fail, what: str, lo: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        fail(f"got {short(value)}", what)
    if lo is not None and value < lo:
        fail(f"got {value!r}", what)
    return int(value)


def _array(value, fail, what: str, shapes: list[tuple], kinds: str = "biuf") -> np.ndarray:
    """A numeric NumPy array of one of ``shapes``, all values finite."""
    try:
        arr = np.asarray(value)
    except Exception:  # noqa: BLE001 - anything NumPy cannot read is a wrong type
        fail(f"got {type(value).__name__}", what)
    if arr.dtype.kind not in kinds:
        fail(f"got dtype {arr.dtype}", what)
    if arr.shape not in shapes:
        fail(f"got shape {arr.shape}", what)
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        fail(f"got a non-finite value ({arr.ravel()[~np.isfinite(arr.ravel())][0].item()!r})",
             what)
    return arr


def _bits(value, fail) -> int:
    b = _int(value, fail, f"an integer in {MIN_BITS}..{MAX_INT_BITS}, or {FLOAT_BITS} (float)")
    if not (MIN_BITS <= b <= MAX_INT_BITS or b == FLOAT_BITS):
        fail(f"got {b}", f"an integer in {MIN_BITS}..{MAX_INT_BITS}, or {FLOAT_BITS} (float)")
    return b


def check_layer(where: str, name: str, e) -> None:
    """Check one layer entry of an export (see ``export_compressed`` for the keys)."""
    key = ""

    def fail(why: str, allowed: str):
        raise ExportError(f"{where}: layer {name!r}: key {key!r}: {why}; allowed: {allowed}")

    if not isinstance(e, dict):
        raise ExportError(f"{where}: layer {name!r}: got {type(e).__name__}; "
                          "allowed: a mapping of keys to values")
    for key in e:
        if key not in _KEYS:
            fail(f"unknown{closest(key, _KEYS)}", f"keys {list(_KEYS)}")
    w_float = e.get("weight_bits") == FLOAT_BITS
    needed = [k for k in _KEYS[:11]] + (["kernel"] if w_float else ["codes", "step"])
    for key in needed:
        if key not in e:
            fail("missing", "present")
    key = "kind"
    if e["kind"] not in ("conv", "dense"):
        fail(f"got {short(e['kind'])}", "'conv' or 'dense'")
    key = "kernel_shape"
    shape = e["kernel_shape"]
    if (not isinstance(shape, list | tuple) or len(shape) < 2
            or not all(isinstance(s, int | np.integer) and not isinstance(s, bool) and s > 0
                       for s in shape)):
        fail(f"got {short(shape)}", "a list of at least 2 positive integers")
    k, n_out = math.prod(int(s) for s in shape[:-1]), int(shape[-1])
    gemm = (k, n_out)
    key = "structure"
    if e["structure"] not in STRUCTURES.names():
        fail(f"got {short(e['structure'])}{closest(e['structure'], STRUCTURES.names())}",
             f"one of {list(STRUCTURES.names())}")
    key = "n"
    n = _int(e["n"], fail, "an integer >= 1", 1)
    key = "m"
    m = _int(e["m"], fail, f"an integer >= N ({n})", 1)
    if e["structure"] == "nm" and n > m:
        fail(f"got {m} < N = {n}", f"an integer >= N ({n})")
    key = "mask"
    mask_shapes = [gemm, (n_out,)] if e["structure"] == "channel" else [gemm]
    mask = _array(e["mask"], fail, f"0/1 values of shape {mask_shapes}", mask_shapes)
    if not np.all((mask == 0) | (mask == 1)):
        fail("got values other than 0 and 1", "a 0/1 (boolean) mask")
    if not mask.any():
        fail("got an all-zero mask (density 0)", "at least one kept weight (density > 0)")
    key = "bias"
    if e["bias"] is not None:
        _array(e["bias"], fail, f"null or finite numbers of shape {(n_out,)}", [(n_out,)], "f")
    key = "act_signed"
    if not isinstance(e["act_signed"], bool | np.bool_):
        fail(f"got {short(e['act_signed'])}", "true or false")
    key = "weight_bits"
    wb = _bits(e["weight_bits"], fail)
    if wb == FLOAT_BITS:
        key = "kernel"
        _array(e["kernel"], fail, f"finite numbers of shape {gemm}", [gemm], "f")
    else:
        key = "codes"
        lv = 2 ** (wb - 1) - 1  # signed grid points (quant.levels)
        codes = _array(e["codes"], fail, f"integers of shape {gemm}", [gemm], "iu")
        if codes.size and np.abs(codes.astype(np.int64)).max() > lv:
            fail(f"got |code| {np.abs(codes.astype(np.int64)).max()} for {wb}-bit weights",
                 f"integers in -{lv}..{lv}")
        key = "step"
        step = _array(e["step"], fail, f"finite numbers > 0 of shape () or {(n_out,)}",
                      [(), (n_out,), (1, n_out)], "f")
        if np.any(step <= 0):
            fail(f"got {step.min().item()!r}", "finite numbers > 0")
    key = "act_bits"
    ab = _bits(e["act_bits"], fail)
    key = "act_range"
    r = e["act_range"]
    if ab < FLOAT_BITS and (isinstance(r, bool) or not isinstance(r, int | float | np.number)
                            or not math.isfinite(r) or r < 0):
        fail(f"got {short(r)}", f"a finite number >= 0 for {ab}-bit activations")


def check_export(exported, where: str = "<export>") -> dict:
    """Check a whole export; returns it unchanged.

    Raises:
        ExportError: naming ``where``, the layer and key, and what is allowed.
    """
    if not isinstance(exported, dict):
        raise ExportError(f"{where}: got {type(exported).__name__}; allowed: an export "
                          "mapping from export_compressed / load_exported")
    if exported.get("format") != EXPORT_FORMAT:
        raise ExportError(f"{where}: key 'format': got {short(exported.get('format'))}; "
                          f"allowed: {EXPORT_FORMAT!r}")
    layers = exported.get("layers")
    if not isinstance(layers, dict):
        raise ExportError(f"{where}: key 'layers': got {short(layers)}; allowed: a mapping "
                          "of layer paths to entries")
    for name, e in layers.items():
        check_layer(where, name, e)
    return exported
