"""Regenerate the h100-sxm, a100-sxm, l4 and t4 presets' calibration fields from the
measured h200 fit (``hw_models.gpu_specfile.derived_text``); datasheet lines are kept.

Run:  python benchmarks/validation/gpu_derive_presets.py
(after ``lepton-codesign calibrate --from benchmarks/validation/data/h200_kernels.json
--out hw_models/presets/h200.yaml``). The carried-over fields are assumptions [A], not
measurements of those parts.
"""

from __future__ import annotations

import sys
from pathlib import Path

from lepton_codesign import hw_models as hw
from lepton_codesign.hw_models.gpu_specfile import derived_text

PRESETS = Path(__file__).resolve().parents[2] / "hw_models" / "presets"
TARGETS = ("h100-sxm", "a100-sxm", "l4", "t4")


def main() -> int:
    source = hw.preset("h200")
    for name in TARGETS:
        path = PRESETS / f"{name}.yaml"
        path.write_text(derived_text(path.read_text(), source, "h200"))
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
