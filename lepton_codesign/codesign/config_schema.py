"""The co-design config schema: one strict pydantic model per TOML section.

Every field says what is allowed in its ``description`` (used verbatim in error
messages). Models forbid unknown keys, refuse NaN / inf and do not coerce types
(``true`` is not a number, ``"3"`` is not an integer; an integer is accepted for a
float). ``config.validate_config`` is the entry point; this module only declares.

Example:
    >>> Config.model_validate({"train": {"epochs": 3}}).train.epochs
    3
"""

from __future__ import annotations

import importlib.util
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from lepton_codesign.codesign.config_compression import CompressionSearch
from lepton_codesign.codesign.devices import (
    allowed_entries,
    did_you_mean,
    hardware_label,
    hardware_record,
    resolve_entry,
)

FAMILIES = ("asic", "fpga", "gpu")
OBJECTIVES = {
    "error": "test error (1 - accuracy)",
    "latency_s": "latency per batch [s]",
    "energy_j": "energy per batch [J]",
    "usd_per_1m_inferences": "$ per 1M inferences",
    "cost_usd": "hardware unit cost [$]",
    "area_mm2": "die area [mm$^2$]",
}
STRUCTURES = ("unstructured", "nm", "channel")
DATASETS = ("mnist1d", "digits")  # lepton_codesign.data.load_dataset
# Bit-widths a trial can train with: the quantiser's grid (compress/quant.py MIN_BITS,
# MAX_BITS; 1-bit needs a different quantiser) or FLOAT_BITS (trials.py: not quantised).
MIN_BITS, MAX_BITS, FLOAT_BITS = 2, 16, 32
# Nodes covered by every node table of hw_models/constants.py (logic area/energy 5-130,
# SRAM cell 3-65, wafer price 5-90, mask set 3-65 nm): no extrapolation inside.
NODE_RANGE_NM = (5.0, 65.0)
# jax.random.key and nnx.Rngs take the seed (and seed + 1) as a machine integer.
MAX_SEED = 2**32 - 1
# Largest inference batch: the workload is extracted from shapes only (nothing is
# allocated), so the bound is the largest batch a layer's int32 shape can hold; the same
# bound applies to the CLI's --batch.
MAX_BATCH = 2**31 - 1


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


def _ordered(strict: bool):
    def check(v: list) -> list:
        if v[0] > v[1] or (strict and v[0] == v[1]):
            raise ValueError(f"[{v[0]:g}, {v[1]:g}]: low {'>=' if strict else '>'} high")
        return v
    return AfterValidator(check)


def _unique(v: list) -> list:
    dup = sorted({x for x in v if v.count(x) > 1}, key=str)
    if dup:
        raise ValueError(f"{dup} given more than once")
    return v


def _bits(v: int) -> int:
    if not (MIN_BITS <= v <= MAX_BITS or v == FLOAT_BITS):
        raise ValueError(f"{v} bits is not supported")
    return v


def _entry(kind: str):
    def check(v: str, info: ValidationInfo) -> str:
        ctx = info.context if info.context is not None else {}
        entry, spec = resolve_entry(v, kind, ctx.get("base_dir"))
        ctx.setdefault("labels", {})[entry] = hardware_label(hardware_record(entry, spec))
        return entry
    return AfterValidator(check)


def _model_name(v: str) -> str:
    if ":" not in v:
        from lepton_codesign.models import model_names

        if v not in model_names():
            raise ValueError(f"unknown model {v!r}{did_you_mean(v, model_names())}")
        return v
    mod, _, fn = v.partition(":")
    if not fn.isidentifier() or not all(p.isidentifier() for p in mod.split(".")):
        raise ValueError(f"{v!r} is not of the form package.module:factory")
    try:
        found = importlib.util.find_spec(mod)
    except (ImportError, ValueError):
        found = None
    if found is None:
        raise ValueError(f"module {mod!r} of {v!r} is not importable (not on sys.path)")
    return v


Int = Annotated[int, Field(ge=1)]
IntPair = Annotated[list[Int], Field(min_length=2, max_length=2), _ordered(False)]
PosReal = Annotated[float, Field(gt=0)]
RealPair = Annotated[list[PosReal], Field(min_length=2, max_length=2), _ordered(True)]
# The AsicSpec envelopes (hw_models/asic_spec.py), so every searched design is a valid spec.
PePair = Annotated[list[Annotated[int, Field(ge=1, le=4096)]], Field(min_length=2, max_length=2),
                   _ordered(False)]
FreqPair = Annotated[list[Annotated[float, Field(gt=0, le=1e12)]],
                     Field(min_length=2, max_length=2), _ordered(True)]
DramPair = Annotated[list[Annotated[float, Field(ge=1e-6, le=1e7)]],
                     Field(min_length=2, max_length=2), _ordered(True)]
Bits = Annotated[int, AfterValidator(_bits)]
_BITS = f"an integer {MIN_BITS}..{MAX_BITS} (quantised) or {FLOAT_BITS} (float)"


class Run(_Strict):
    # The run name becomes a folder name (the default run directory): no separators,
    # no "..", nothing a shell or a file system treats specially.
    name: str = Field("codesign", min_length=1, max_length=64,
                      pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$",
                      description="1-64 letters, digits, '_', '-' or '.', not starting "
                                  "with '.' or '-'")
    seed: int = Field(0, ge=0, le=MAX_SEED, description=f"an integer 0..{MAX_SEED}")


class Data(_Strict):
    dataset: Literal[DATASETS] = Field("mnist1d", description=f"one of {list(DATASETS)}")
    max_train: int = Field(4000, ge=10, description="an integer >= 10")
    max_test: int = Field(1000, ge=10, description="an integer >= 10")


class Model(_Strict):
    name: Annotated[str, AfterValidator(_model_name)] = Field(
        "mlp", description="a built-in model (lepton-codesign models) or "
        "package.module:factory (imports and runs that module)")
    batch: int = Field(1, ge=1, le=MAX_BATCH, description=f"an integer 1..{MAX_BATCH}")


class Train(_Strict):
    epochs: int = Field(30, ge=1, description="an integer >= 1")
    batch_size: int = Field(128, ge=1, description="an integer >= 1")
    learning_rate: float = Field(3e-3, gt=0, description="a finite number > 0")


class Point(_Strict):
    name: str | None = Field(None, min_length=1, description="a non-empty string")
    sparsity: float = Field(0.0, ge=0.0, le=0.999, description="a number in [0, 0.999]")
    structure: Literal[STRUCTURES] = Field("unstructured",
                                           description=f"one of {list(STRUCTURES)}")
    nm: IntPair = Field([2, 4], description="[N, M] integers with 1 <= N <= M")
    weight_bits: Bits = Field(8, description=_BITS)
    act_bits: Bits = Field(8, description=_BITS)
    learn_bits: bool = Field(False, description=f"true or false; true needs weight_bits < "
                             f"{FLOAT_BITS}")
    distill: bool = Field(False, description="true or false")
    reference: bool = Field(False, description="true or false")

    @field_validator("learn_bits")
    @classmethod
    def _learn_needs_bits(cls, v: bool, info: ValidationInfo) -> bool:
        if v and info.data.get("weight_bits") == FLOAT_BITS:
            raise ValueError(f"learn_bits = true with weight_bits = {FLOAT_BITS} (float)")
        return v


DEFAULT_POINTS = [
    {"name": "dense-fp32", "sparsity": 0.0, "weight_bits": 32, "act_bits": 32,
     "reference": True},
    {"name": "dense-int8", "sparsity": 0.0, "weight_bits": 8, "act_bits": 8},
    {"name": "s90-int8", "sparsity": 0.9, "weight_bits": 8, "act_bits": 8},
    {"name": "nm24-int4", "sparsity": 0.5, "structure": "nm", "nm": [2, 4],
     "weight_bits": 4, "act_bits": 8},
]


def _name_points(points: list[Point]) -> list[Point]:
    for i, p in enumerate(points):
        p.name = p.name or f"point{i}"
    names = [p.name for p in points]
    if len(set(names)) != len(names):
        raise ValueError(f"point names must be unique, got {names}")
    return points


class Hardware(_Strict):
    families: Annotated[list[Literal[FAMILIES]], Field(min_length=1),
                        AfterValidator(_unique)] = Field(
        list(FAMILIES), description=f"a non-empty list of distinct names from {list(FAMILIES)}")


def _choices(options: tuple, default: list, what: str):
    return Field(default, description=f"a non-empty list of distinct {what} from "
                 f"{list(options)}")


class Asic(_Strict):
    pop_size: int = Field(48, ge=4, description="an integer >= 4")
    generations: int = Field(12, ge=1, description="an integer >= 1")
    pe_rows: PePair = Field([4, 128], description="[low, high] integers, 1 <= low <= high "
                                                  "<= 4096")
    pe_cols: PePair = Field([4, 128], description="[low, high] integers, 1 <= low <= high "
                                                  "<= 4096")
    sram_kib: RealPair = Field([8, 4096], description="[low, high] numbers, 0 < low < high")
    freq_hz: FreqPair = Field([2e8, 1.5e9], description="[low, high] numbers, "
                                                        "0 < low < high <= 1e12")
    dram_gbps: DramPair = Field([4.0, 64.0], description="[low, high] numbers, "
                                                         "1e-6 <= low < high <= 1e7")
    node_nm: Annotated[list[Annotated[float, Field(ge=NODE_RANGE_NM[0], le=NODE_RANGE_NM[1])]],
                       Field(min_length=1), AfterValidator(_unique)] = Field(
        [7, 16, 28], description=f"a non-empty list of distinct nodes in nm, each in "
        f"[{NODE_RANGE_NM[0]:g}, {NODE_RANGE_NM[1]:g}] (the range of the technology tables)")
    dataflows: Annotated[list[Literal["os", "ws", "is"]], Field(min_length=1),
                         AfterValidator(_unique)] = _choices(("os", "ws", "is"),
                                                             ["os", "ws", "is"], "dataflows")
    sparsity_support: Annotated[
        list[Literal["none", "zero-gating", "skipping", "nm"]], Field(min_length=1),
        AfterValidator(_unique)] = _choices(("none", "zero-gating", "skipping", "nm"),
                                            ["none", "zero-gating", "skipping", "nm"], "modes")
    precision_scalable: Annotated[list[Annotated[int, Field(ge=0, le=1)]], Field(min_length=1),
                                  AfterValidator(_unique)] = _choices((0, 1), [0, 1], "values")
    seeds: Annotated[list[Annotated[str, _entry("asic")]], AfterValidator(_unique)] = Field(
        [], description=f"distinct {allowed_entries('asic')}")


class Fpga(_Strict):
    devices: Annotated[list[Annotated[str, _entry("fpga")]], AfterValidator(_unique)] = Field(
        ["kv260", "zcu104", "alveo-u250"], description=f"distinct {allowed_entries('fpga')}")


class Gpu(_Strict):
    devices: Annotated[list[Annotated[str, _entry("gpu")]], AfterValidator(_unique)] = Field(
        ["t4", "l4", "h100-sxm"], description=f"distinct {allowed_entries('gpu')}")


class Objectives(_Strict):
    names: Annotated[list[Literal[tuple(OBJECTIVES)]], Field(min_length=2),
                     AfterValidator(_unique)] = Field(
        ["error", "latency_s", "energy_j", "usd_per_1m_inferences"],
        description=f"at least 2 distinct names from {list(OBJECTIVES)}")


class Constraints(_Strict):
    min_accuracy: float = Field(0.0, ge=0.0, le=1.0, description="a number in [0, 1]")
    max_latency_s: float = Field(1e9, gt=0, description="a finite number > 0")
    max_area_mm2: float = Field(1e9, gt=0, description="a finite number > 0")


class Config(_Strict):
    """The whole config; sections default to their models' defaults."""

    run: Run = Field(default_factory=Run, description="a [run] table")
    data: Data = Field(default_factory=Data, description="a [data] table")
    model: Model = Field(default_factory=Model, description="a [model] table")
    train: Train = Field(default_factory=Train, description="a [train] table")
    points: Annotated[list[Point], AfterValidator(_name_points)] = Field(
        default_factory=lambda: [Point(**p) for p in DEFAULT_POINTS],
        description="an array of [[points]] tables with distinct names (non-empty "
                    "without a [compression] table)")
    compression: CompressionSearch | None = Field(
        None, description="a [compression] table (the joint compression x hardware search)")
    hardware: Hardware = Field(default_factory=Hardware, description="a [hardware] table")
    asic: Asic = Field(default_factory=Asic, description="an [asic] table")
    fpga: Fpga = Field(default_factory=Fpga, description="an [fpga] table")
    gpu: Gpu = Field(default_factory=Gpu, description="a [gpu] table")
    objectives: Objectives = Field(default_factory=Objectives, description="an [objectives] table")
    constraints: Constraints = Field(default_factory=Constraints,
                                     description="a [constraints] table")

    @model_validator(mode="before")
    @classmethod
    def _joint_points(cls, raw):
        """With ``[compression]``, ``[[points]]`` are optional seeds (none by default)."""
        if isinstance(raw, dict) and raw.get("compression") is not None and "points" not in raw:
            raw = {**raw, "points": []}
        return raw

    @model_validator(mode="after")
    def _points_or_search(self):
        if not self.points and self.compression is None:
            raise ValueError("points: empty; allowed: at least one [[points]] table, or a "
                             "[compression] table (joint search)")
        return self
