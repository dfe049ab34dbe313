"""The loss keywords ``TrainConfig`` accepted before loss terms (mapped onto terms).

``TrainConfig(kd_alpha=..., bit_weight=..., hardware=...)`` keeps working: each
keyword group sets the fields of one term (``KEYWORDS``), replacing the term of that
type in ``terms`` or inserting it at its place in ``terms.TERM_ORDER`` (the order of
the sum before terms, so results are unchanged). Without ``terms`` the starting point
is ``DEFAULT_TERMS``: the task loss, distillation at ``alpha = 0.5`` (active only with
a teacher) and the gate target at weight 100 (active only with hard-concrete gates).

Example:
    >>> [type(t).__name__ for t in terms_from_keywords(None, {"bit_weight": 1.0})]
    ['TaskLoss', 'Distillation', 'GateTarget', 'BitBudget']
"""

from __future__ import annotations

import dataclasses

from lepton_codesign.compress import terms as T
from lepton_codesign.compress.losses import HardwareCost

#: keyword -> (term type, field); ``hardware`` is a whole ``HardwareCost`` (or None)
KEYWORDS: dict[str, tuple[type, str | None]] = {
    "tasks": (T.TaskLoss, "tasks"),
    "kd_alpha": (T.Distillation, "alpha"),
    "kd_temperature": (T.Distillation, "temperature"),
    "feature_fn": (T.FeatureMatching, "feature_fn"),
    "feature_weight": (T.FeatureMatching, "weight"),
    "gate_target_weight": (T.GateTarget, "weight"),
    "sparsity_weight": (T.SparsityPenalty, "weight"),
    "target_density": (T.SparsityPenalty, "target_density"),
    "bit_weight": (T.BitBudget, "weight"),
    "bit_budget": (T.BitBudget, "budget"),
    "hardware": (HardwareCost, None),
}


def default_terms() -> tuple:
    """The terms of a ``TrainConfig`` without ``terms`` or loss keywords."""
    return (T.TaskLoss(), T.Distillation(), T.GateTarget())


def _rank(term) -> int:
    return T.TERM_ORDER.index(type(term)) if type(term) in T.TERM_ORDER else -1


def _check_term(term) -> None:
    if not (callable(term) and hasattr(term, "prepare") and hasattr(term, "example_data")):
        raise TypeError(f"terms: {term!r} is not a loss term (needs __call__(model, ctx), "
                        "prepare(setup) and example_data(setup); see compress.terms)")


def terms_from_keywords(terms, keywords: dict) -> tuple:
    """``terms`` (default: ``default_terms()``) with the loss ``keywords`` applied.

    Args:
        terms: a sequence of loss terms, or ``None``.
        keywords: old ``TrainConfig`` loss keywords that were given (``KEYWORDS``).

    Returns:
        The terms as a tuple.

    Raises:
        TypeError: an unknown keyword or an entry that is not a loss term.
    """
    if isinstance(terms, (str, bytes)) or (terms is not None and not hasattr(terms, "__iter__")):
        raise TypeError(f"terms must be a sequence of loss terms, got {terms!r}")
    out = list(default_terms() if terms is None else terms)
    for term in out:
        _check_term(term)
    if unknown := sorted(set(keywords) - set(KEYWORDS)):
        raise TypeError(f"unknown TrainConfig keyword {unknown[0]!r}; allowed: "
                        f"{sorted(KEYWORDS)}")
    groups: dict[type, dict] = {}
    for key, value in keywords.items():
        cls, field = KEYWORDS[key]
        groups.setdefault(cls, {})[field] = value
    for cls in sorted(groups, key=T.TERM_ORDER.index):
        fields = groups[cls]
        idx = next((i for i, t in enumerate(out) if type(t) is cls), None)
        if cls is HardwareCost:
            new = fields[None]
            if new is not None and not isinstance(new, HardwareCost):
                raise TypeError(f"hardware must be a HardwareCost or None, got {new!r}")
        else:
            base = out[idx] if idx is not None else cls()
            new = dataclasses.replace(base, **fields)
        if idx is not None:
            if new is None:
                del out[idx]
            else:
                out[idx] = new
        elif new is not None:
            rank = T.TERM_ORDER.index(cls)
            pos = max((i + 1 for i, t in enumerate(out) if 0 <= _rank(t) < rank), default=0)
            out.insert(pos, new)
    if "tasks" in keywords:  # distillation weights the tasks as the task loss does
        out = [dataclasses.replace(t, tasks=keywords["tasks"])
               if type(t) is T.Distillation else t for t in out]
    return tuple(out)
