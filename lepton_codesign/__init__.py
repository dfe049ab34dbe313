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

__version__ = "0.1.0"

__all__ = [
    "BitParam", "CompressedConv", "CompressedLinear", "Dataset", "MaskLogit", "QuantRange",
    "evaluate_model", "load_exported", "predict", "save_exported",
    "CodesignResult", "CompressionPolicy", "ConfigError", "HardwareCost", "MultiTaskModel",
    "Task", "TrainConfig", "TrainResult", "build_model", "codesign", "compare", "compress",
    "compression_state", "default_config", "export_compressed", "extract_workload",
    "from_arrays", "harden", "import_compressed", "load_config", "load_dataset",
    "load_digits", "load_mnist1d", "model_names", "normalized_sgd", "storage_report", "train",
]
