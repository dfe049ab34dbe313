"""The ``[compression]`` table: the compression search space and its budget.

A config with a ``[compression]`` table runs the joint compression x hardware search
(``codesign.joint``); ``[[points]]`` given with it are extra seeds (trained as written,
at the full budget). Without ``[compression]`` the ``[[points]]`` grid runs as before.
Strict like the rest of the schema (``config_schema``): unknown keys, wrong types,
NaN / inf and out-of-range values are refused with file:line and what is allowed.

Example:
    >>> CompressionSearch.model_validate({"sparsity": [0.5, 0.9]}).structures
    ['none', 'unstructured', 'nm']
"""

from __future__ import annotations

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

from lepton_codesign.codesign.candidate import ALLOCATIONS, BIT_GROUPS, STRUCTURES
from lepton_codesign.codesign.devices import allowed_entries, resolve_entry

MIN_BITS, MAX_BITS = 2, 16  # the quantiser's grid (compress/quant.py)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


def _unique(v: list) -> list:
    dup = sorted({str(x) for x in v if v.count(x) > 1})
    if dup:
        raise ValueError(f"{dup} given more than once")
    return v


def _ordered(v: list) -> list:
    if v[0] > v[1]:
        raise ValueError(f"[{v[0]:g}, {v[1]:g}]: low > high")
    return v


def _nm_pair(v: list) -> list:
    if not 1 <= v[0] <= v[1]:
        raise ValueError(f"{v}: need 1 <= N <= M")
    return v


Bits = Annotated[int, Field(ge=MIN_BITS, le=MAX_BITS)]
BitList = Annotated[list[Bits], Field(min_length=1), AfterValidator(_unique)]
Range = Annotated[list[Annotated[float, Field(ge=0.0)]], Field(min_length=2, max_length=2),
                  AfterValidator(_ordered)]
NmPair = Annotated[list[Annotated[int, Field(ge=1, le=64)]], Field(min_length=2, max_length=2),
                   AfterValidator(_nm_pair)]
_BITS = f"a non-empty list of distinct integers {MIN_BITS}..{MAX_BITS}"


class CompressionSearch(_Strict):
    """The compression knobs searched jointly with the hardware."""

    sparsity: Annotated[list[Annotated[float, Field(ge=0.0, le=0.999)]],
                        Field(min_length=2, max_length=2), AfterValidator(_ordered)] = Field(
        [0.3, 0.95], description="[low, high] target sparsity, 0 <= low <= high <= 0.999 "
                                 "(continuous)")
    structures: Annotated[list[Literal[STRUCTURES]], Field(min_length=1),
                          AfterValidator(_unique)] = Field(
        ["none", "unstructured", "nm"],
        description=f"a non-empty list of distinct structures from {list(STRUCTURES)} "
                    "('none' = no pruning)")
    nm: Annotated[list[NmPair], Field(min_length=1), AfterValidator(_unique)] = Field(
        [[2, 4], [1, 4]], description="a non-empty list of distinct [N, M] pairs, "
                                      "1 <= N <= M <= 64")
    weight_bits: BitList = Field([3, 4, 6, 8], description=_BITS)
    act_bits: BitList = Field([6, 8], description=_BITS)
    bit_groups: Literal[BIT_GROUPS] = Field(
        "first-middle-last", description=f"one of {list(BIT_GROUPS)}: layers that share "
                                         "one weight bit-width")
    bit_budget: Annotated[list[Annotated[float, Field(ge=MIN_BITS, le=MAX_BITS)]],
                          Field(max_length=2)] = Field(
        [], description=f"[] (fixed bits only) or [low, high] average weight bits "
                        f"({MIN_BITS}..{MAX_BITS}) for candidates with learned bit-widths")
    allocation: Annotated[list[Literal[ALLOCATIONS]], Field(min_length=1),
                          AfterValidator(_unique)] = Field(
        ["uniform", "global"],
        description=f"a non-empty list of distinct allocations from {list(ALLOCATIONS)}")
    hw_weight: Range = Field([0.0, 0.0], description="[low, high] weight of the hardware-"
                             "cost loss term, 0 <= low <= high ([0, 0] = off)")
    hw_metric: Literal["energy", "latency"] = Field(
        "energy", description="'energy' or 'latency' (the hardware-cost loss term)")
    hw_spec: str = Field("gemmini-like", min_length=1,
                         description=f"{allowed_entries('asic')}, priced by the "
                                     "hardware-cost loss term")
    pop_size: int = Field(8, ge=2, le=256, description="an integer 2..256 (NSGA-II "
                          "population over compression candidates)")
    max_candidates: int = Field(24, ge=1, le=100000, description="an integer >= 1 "
                                "(searched candidates, seeds not counted)")
    time_budget_s: float = Field(0.0, ge=0.0, description="a number >= 0: wall seconds of "
                                 "the search (dense model, fine-tunes, nested pricing; not the "
                                 "final hardware search) after which it stops (0 = no limit)")
    min_epochs: int = Field(4, ge=1, description="an integer >= 1 (epochs of the lowest rung)")
    max_epochs: int = Field(12, ge=1, description="an integer >= min_epochs (the full "
                            "budget: every front point is fine-tuned this long)")
    reduction_factor: int = Field(3, ge=2, le=16, description="an integer 2..16 (successive "
                                  "halving keeps the best 1/reduction_factor of each rung)")
    learning_rate: float = Field(1e-3, gt=0, description="a finite number > 0 (fine-tuning)")
    validation_fraction: float = Field(0.2, gt=0.0, lt=0.9, description="a number in "
                                       "(0, 0.9): training data held out for promotions")
    refit: bool = Field(False, description="true or false: a promoted candidate's "
                        "full-budget stretch also trains on the validation examples "
                        "(promoted on its rung below's validation accuracy)")
    retrain: int = Field(0, ge=0, le=1024, description="an integer >= 0: after the search, "
                         "the dense model and this many full-budget candidates (the most "
                         "accurate on the validation split) are retrained on all the "
                         "training data (fit + validation); 0 = off")
    base_bits: int = Field(32, description=f"32 (a float dense model) or an integer "
                           f"{MIN_BITS}..{MAX_BITS}: the dense model every candidate starts "
                           "from is trained quantisation-aware at that width (weights and "
                           "activations), and candidates start from its float weights")
    nested_asic: int = Field(64, ge=1, le=4096, description="an integer 1..4096 (ASIC designs "
                             "priced per candidate during the search)")

    @field_validator("hw_spec")
    @classmethod
    def _spec(cls, v: str, info: ValidationInfo) -> str:
        ctx = info.context if info.context is not None else {}
        return resolve_entry(v, "asic", ctx.get("base_dir"))[0]

    @model_validator(mode="after")
    def _cross(self):
        if self.base_bits != 32 and not MIN_BITS <= self.base_bits <= MAX_BITS:
            raise ValueError(f"base_bits {self.base_bits}: 32 or {MIN_BITS}..{MAX_BITS}")
        if self.max_epochs < self.min_epochs:
            raise ValueError(f"max_epochs {self.max_epochs} < min_epochs {self.min_epochs}")
        if len(self.bit_budget) == 1:
            raise ValueError("bit_budget needs [] or [low, high]")
        if self.bit_budget and self.bit_budget[0] > self.bit_budget[1]:
            raise ValueError(f"bit_budget {self.bit_budget}: low > high")
        return self

    def rung_epochs(self) -> list[int]:
        """Budgets (epochs) of the successive-halving rungs, the last one the full budget."""
        return rung_epochs(self.min_epochs, self.max_epochs, self.reduction_factor)


def rung_epochs(lo: int, hi: int, eta: int) -> list[int]:
    """``lo, lo * eta, ...`` (each at most ``hi / eta`` after the first), then ``hi``.

    Example:
        >>> rung_epochs(4, 12, 3), rung_epochs(2, 20, 3), rung_epochs(4, 10, 3)
        ([4, 12], [2, 6, 20], [4, 10])
        >>> rung_epochs(5, 5, 2)
        [5]
    """
    out, e = [], lo
    while e < hi and (e == lo or e * eta <= hi):
        out.append(e)
        e *= eta
    return [*out, hi]
