"""lepton-codesign: compress Flax NNX models and co-design them with accelerators.

Public API::

    extract_workload                                  # model -> hw_models.Workload
    compress, CompressionPolicy, compression_state, harden
    export_compressed, import_compressed, storage_report
    train, TrainConfig, TrainResult                   # fast CPU trainer
    load_dataset, load_digits, load_mnist1d, from_arrays
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

from lepton_codesign.codesign.config import ConfigError, default_config, load_config
from lepton_codesign.codesign.pipeline import CodesignResult, codesign
from lepton_codesign.compare import compare
from lepton_codesign.compress import (
    CompressionPolicy,
    HardwareCost,
    MultiTaskModel,
    Task,
    compress,
    compression_state,
    export_compressed,
    harden,
    import_compressed,
    storage_report,
)
from lepton_codesign.data import from_arrays, load_dataset, load_digits, load_mnist1d
from lepton_codesign.extract import extract_workload
from lepton_codesign.models import build_model, model_names
from lepton_codesign.train import TrainConfig, TrainResult, train

__version__ = "0.1.0"

__all__ = [
    "CodesignResult", "CompressionPolicy", "ConfigError", "HardwareCost", "MultiTaskModel",
    "Task", "TrainConfig", "TrainResult", "build_model", "codesign", "compare", "compress",
    "compression_state", "default_config", "export_compressed", "extract_workload",
    "from_arrays", "harden", "import_compressed", "load_config", "load_dataset",
    "load_digits", "load_mnist1d", "model_names", "storage_report", "train",
]
