"""Hardware entries of a co-design config: preset names or spec files, checked by kind.

``[fpga] devices``, ``[gpu] devices`` and ``[asic] seeds`` name hardware either by a
shipped preset (``lepton-codesign presets``) or by a spec file path (``.yaml``,
``.yml``, ``.toml``; a relative path is resolved against the config file's directory,
or the working directory for a config given as a dict). ``resolve_entry`` loads each
entry when the config is validated, so a typo, a missing file or a GPU under
``[fpga]`` is reported before anything trains.

A point of a run records where its hardware came from (``hardware_record``): a preset
as ``{"preset": name}``, a file as ``{"spec_file": absolute path, "name": spec name}``,
plus ``"design"`` (``dataflow`` / ``overlay``) for an FPGA, shown in labels and reports;
``spec_of_record`` rebuilds the spec from that record.

Example:
    >>> resolve_entry("t4", "gpu")[0]
    't4'
    >>> hardware_label({"spec_file": "/tmp/my_gpu.yaml", "name": "my-gpu"})
    'my-gpu'
    >>> hardware_label({"preset": "kv260", "design": "overlay"})
    'kv260 (overlay)'
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

SPEC_SUFFIXES = (".yaml", ".yml", ".toml")
KINDS = ("asic", "fpga", "gpu")


def did_you_mean(word: str, options: Iterable[str]) -> str:
    """``hw_models.schema.closest``, imported on the error path only (this module stays
    free of JAX, so loading a config is cheap)."""
    from lepton_codesign.hw_models.schema import closest

    return closest(word, options)


def _a(kind: str) -> str:
    return f"{'a' if kind == 'gpu' else 'an'} {kind.upper()}"  # an ASIC, an FPGA, a GPU


def is_spec_file(entry: str) -> bool:
    """Whether an entry names a spec file (extension or a path separator), not a preset."""
    return Path(entry).suffix.lower() in SPEC_SUFFIXES or "/" in entry or "\\" in entry


@functools.lru_cache(maxsize=1)
def preset_kinds() -> dict[str, str]:
    """``{preset name: kind}`` of the shipped presets (read without building specs)."""
    folder = resources.files("lepton_codesign.hw_models") / "presets"
    out = {}
    for item in folder.iterdir():
        if item.name.endswith(".yaml"):
            out[item.name[:-5]] = str(yaml.safe_load(item.read_text()).get("kind"))
    return dict(sorted(out.items()))


def presets_of_kind(kind: str) -> list[str]:
    """Names of the shipped presets of one kind (``asic`` | ``fpga`` | ``gpu``)."""
    return [n for n, k in preset_kinds().items() if k == kind]


def allowed_entries(kind: str) -> str:
    """What a ``kind`` entry may be, for messages: its presets or a spec file path."""
    return (f"{kind} presets {presets_of_kind(kind)} or spec file paths "
            f"({'/'.join(SPEC_SUFFIXES)}) of kind {kind}")


def spec_kind(spec: Any) -> str:
    """``"asic" | "fpga" | "gpu"`` of a spec object."""
    from lepton_codesign import hw_models

    for kind, cls in zip(KINDS, (hw_models.AsicSpec, hw_models.FpgaSpec, hw_models.GpuSpec),
                         strict=True):
        if isinstance(spec, cls):
            return kind
    raise TypeError(f"not a hardware spec: {type(spec).__name__}")


def resolve_entry(entry: str, kind: str, base_dir: str | Path | None = None) -> tuple[str, Any]:
    """Check one device / seed entry and load its spec.

    Args:
        entry: a preset name or a spec file path.
        kind: the kind the entry must have (``asic`` | ``fpga`` | ``gpu``).
        base_dir: directory relative paths are resolved against (default: cwd).

    Returns:
        ``(normalised entry, spec)``: the preset name unchanged, or the file's absolute
        path (so the entry means the same thing from any working directory).

    Raises:
        ValueError: unknown preset (with a did-you-mean), missing or invalid file, or a
            spec of another kind (``allowed_entries(kind)`` says what is allowed).
    """
    from lepton_codesign import hw_models

    allowed = presets_of_kind(kind)
    if is_spec_file(entry):
        path = Path(entry).expanduser()
        if not path.is_absolute():
            path = Path(base_dir if base_dir is not None else Path.cwd()) / path
        path = path.resolve()
        if not path.is_file():
            raise ValueError(f"spec file {str(path)!r} does not exist or is not a file")
        try:
            spec = hw_models.load_spec(path)
        except (hw_models.SpecError, OSError, UnicodeDecodeError) as err:
            raise ValueError(f"invalid spec file: {err}") from None
        got = spec_kind(spec)
        if got != kind:
            raise ValueError(f"spec file {str(path)!r} describes {_a(got)} design, "
                             f"not {_a(kind)}")
        return str(path), spec
    kinds = preset_kinds()
    if entry not in kinds:
        typo = did_you_mean(entry, allowed) or did_you_mean(entry, kinds)
        raise ValueError(f"unknown preset {entry!r}{typo}")
    if kinds[entry] != kind:
        raise ValueError(f"preset {entry!r} is {_a(kinds[entry])} design, not {_a(kind)}")
    return entry, hw_models.preset(entry)


def hardware_record(entry: str, spec: Any) -> dict:
    """What a result point records about resolved hardware (see module docstring); an
    FPGA also records its design style (``"design": "dataflow" | "overlay"``)."""
    rec = {"spec_file": entry, "name": spec.name} if is_spec_file(entry) else {"preset": entry}
    if hasattr(spec, "architecture") and hasattr(spec, "describe"):
        rec["design"] = str(spec.describe()["architecture"])
    return rec


def spec_of_record(hardware: dict) -> Any | None:
    """The spec a ``hardware_record`` names, or ``None`` for a searched ASIC design."""
    from lepton_codesign import hw_models

    source = hardware.get("spec_file") or hardware.get("preset")
    return None if source is None else hw_models.resolve_spec(source)


def hardware_label(hardware: dict) -> str:
    """Short readable name of a point's hardware (preset / spec name, or ASIC knobs)."""
    design = f" ({hardware['design']})" if "design" in hardware else ""
    if "spec_file" in hardware:
        return f"{hardware['name']}{design}"
    if "preset" in hardware:
        return f"{hardware['preset']}{design}"
    h = hardware
    return f"ASIC {h['pe_rows']}x{h['pe_cols']} {h['dataflow']} {h['node_nm']:g}nm"
