"""What ships with lepton-codesign, listed without importing JAX or flax.

The CLI's ``presets`` and ``models`` commands answer from here, so they return in well
under a second: preset files are read as text (YAML, safe loader) and the built-in
model names are a plain table that ``lepton_codesign.models`` is tested against.

Example:
    >>> "mlp" in BUILTIN_MODELS
    True
    >>> [p["kind"] for p in preset_catalog() if p["name"] == "kv260"]
    ['fpga']
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import yaml

# name -> one-line description (kept equal to models._BUILTINS by a test).
BUILTIN_MODELS: dict[str, str] = {
    "cnn1d": "1-D CNN over a 40-sample signal (MNIST-1D)",
    "lenet": "LeNet-5 style CNN, 28x28x1 input",
    "mlp": "MLP 40-256-256-10 (MNIST-1D; 64 inputs with the digits data set)",
    "mobilenet": "MobileNet-style depthwise-separable CNN, 32x32x3 input",
    "resnet18": "ResNet-18, 224x224x3 input",
    "tiny-lm": "2-block decoder-only LM (GQA, SwiGLU), 32 tokens of a 32-token vocabulary",
    "transformer": "2-block transformer classifier, 32 tokens x 64 features",
}


def presets_dir() -> Path:
    """Folder of the shipped preset files (found without importing ``hw_models``)."""
    spec = importlib.util.find_spec("lepton_codesign.hw_models")
    if spec is None or not spec.submodule_search_locations:  # pragma: no cover - broken install
        raise RuntimeError("lepton_codesign.hw_models is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "presets"


def _header(text: str) -> str:
    """The comment block at the top of a preset file, joined into one line."""
    lines = []
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        lines.append(line.lstrip("# ").strip())
    return " ".join(lines)


def preset_catalog() -> list[dict]:
    """One row per shipped preset: name, kind, design style (FPGA), source line, file.

    Returns:
        Rows sorted by kind then name, each ``{"name", "kind", "design", "source", "file"}``.
    """
    rows = []
    for path in sorted(presets_dir().glob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        data = yaml.safe_load(text)
        kind = data.get("kind", "?")
        design = data.get("architecture", "") if kind == "fpga" else ""
        rows.append({"name": data.get("name", path.stem), "kind": kind, "design": design,
                     "source": _header(text), "file": path.name})
    order = {"asic": 0, "fpga": 1, "gpu": 2}
    return sorted(rows, key=lambda r: (order.get(r["kind"], 3), r["name"]))
