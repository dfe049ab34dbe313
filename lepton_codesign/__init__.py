"""lepton-codesign: compress Flax NNX models and co-design them with accelerators.

Public API::

    extract_workload                                  # model -> hw_models.Workload
    compress, CompressionPolicy, compression_state, harden
    CompressedLinear, CompressedConv, MaskLogit, BitParam, QuantRange
    export_compressed, import_compressed, save_exported, load_exported, storage_report
    train, TrainConfig, TrainResult, predict, evaluate_model   # fast CPU trainer
    normalized_sgd                                    # the mask logits' optimiser
    load_dataset, load_digits, load_mnist1d, from_arrays, Dataset
    codesign, CodesignResult, load_config, default_config
    compare                                           # one model on several specs
    build_model, model_names                          # built-in example models

Example:
    >>> import jax.numpy as jnp
    >>> from lepton_codesign import build_model, extract_workload
    >>> model, x = build_model("mlp")
    >>> extract_workload(model, x).names
    ('layers/0', 'layers/1', 'layers/2')
"""

import importlib
import sys
import types
from importlib import metadata as _metadata
from typing import TYPE_CHECKING, Any

try:
    __version__ = _metadata.version("lepton-codesign")
except _metadata.PackageNotFoundError:  # pragma: no cover - running from an uninstalled tree
    __version__ = "0+unknown"

# Public names load on first use (PEP 562), so ``import lepton_codesign`` and the CLI's
# ``--help`` / ``presets`` stay fast, and ``lepton_codesign.hw_models`` /
# ``lepton_codesign.search`` can be imported without pulling in flax.
_LAZY = {
    "ConfigError": "lepton_codesign.codesign.config",
    "default_config": "lepton_codesign.codesign.config",
    "load_config": "lepton_codesign.codesign.config",
    "CodesignResult": "lepton_codesign.codesign.pipeline",
    "codesign": "lepton_codesign.codesign.pipeline",
    "compare": "lepton_codesign.compare",
    "BitParam": "lepton_codesign.compress",
    "CompressedConv": "lepton_codesign.compress",
    "CompressedLinear": "lepton_codesign.compress",
    "CompressionPolicy": "lepton_codesign.compress",
    "HardwareCost": "lepton_codesign.compress",
    "MaskLogit": "lepton_codesign.compress",
    "MultiTaskModel": "lepton_codesign.compress",
    "QuantRange": "lepton_codesign.compress",
    "Task": "lepton_codesign.compress",
    "compress": "lepton_codesign.compress",
    "compression_state": "lepton_codesign.compress",
    "export_compressed": "lepton_codesign.compress",
    "harden": "lepton_codesign.compress",
    "import_compressed": "lepton_codesign.compress",
    "load_exported": "lepton_codesign.compress",
    "save_exported": "lepton_codesign.compress",
    "storage_report": "lepton_codesign.compress",
    "Dataset": "lepton_codesign.data",
    "from_arrays": "lepton_codesign.data",
    "load_dataset": "lepton_codesign.data",
    "load_digits": "lepton_codesign.data",
    "load_mnist1d": "lepton_codesign.data",
    "extract_workload": "lepton_codesign.extract",
    "build_model": "lepton_codesign.models",
    "model_names": "lepton_codesign.models",
    "normalized_sgd": "lepton_codesign.optim",
    "TrainConfig": "lepton_codesign.train",
    "TrainResult": "lepton_codesign.train",
    "evaluate_model": "lepton_codesign.train",
    "predict": "lepton_codesign.train",
    "train": "lepton_codesign.train",
}

_SUBPACKAGES = ("hw_models", "search", "compress", "codesign")
# Public functions named like the submodule that defines them: the function is the
# package attribute (as `from lepton_codesign import compare` promises), even after the
# import system sets the submodule there (``_Package.__setattr__``). Import the
# submodules with ``from lepton_codesign.codesign import pipeline``.
_SHADOWED = ("codesign", "compare", "compress", "train")


class _Package(types.ModuleType):
    def __setattr__(self, name: str, value: Any) -> None:
        if name in _SHADOWED and isinstance(value, types.ModuleType):
            return  # keep the public function (resolved lazily by __getattr__)
        super().__setattr__(name, value)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    if name in _SUBPACKAGES and name not in _SHADOWED:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY) | set(_SUBPACKAGES))


sys.modules[__name__].__class__ = _Package


if TYPE_CHECKING:  # static analysers see the real imports
    from lepton_codesign.codesign.config import ConfigError, default_config, load_config
    from lepton_codesign.codesign.pipeline import CodesignResult, codesign
    from lepton_codesign.compare import compare
    from lepton_codesign.compress import (
        BitParam,
        CompressedConv,
        CompressedLinear,
        CompressionPolicy,
        HardwareCost,
        MaskLogit,
        MultiTaskModel,
        QuantRange,
        Task,
        compress,
        compression_state,
        export_compressed,
        harden,
        import_compressed,
        load_exported,
        save_exported,
        storage_report,
    )
    from lepton_codesign.data import Dataset, from_arrays, load_dataset, load_digits, load_mnist1d
    from lepton_codesign.extract import extract_workload
    from lepton_codesign.models import build_model, model_names
    from lepton_codesign.optim import normalized_sgd
    from lepton_codesign.train import TrainConfig, TrainResult, evaluate_model, predict, train

__all__ = [
    "BitParam", "CompressedConv", "CompressedLinear", "Dataset", "MaskLogit", "QuantRange",
    "evaluate_model", "load_exported", "predict", "save_exported",
    "CodesignResult", "CompressionPolicy", "ConfigError", "HardwareCost", "MultiTaskModel",
    "Task", "TrainConfig", "TrainResult", "build_model", "codesign", "compare", "compress",
    "compression_state", "default_config", "export_compressed", "extract_workload",
    "from_arrays", "harden", "import_compressed", "load_config", "load_dataset",
    "load_digits", "load_mnist1d", "model_names", "normalized_sgd", "storage_report", "train",
]
