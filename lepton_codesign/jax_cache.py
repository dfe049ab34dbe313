"""JAX's persistent compilation cache for the long-running commands.

Most of a co-design search's time on a CPU is XLA compiling: every fine-tuned candidate
builds its training step anew (about 5 s of compiles against ~1 s of training for the
quickstart MLP, measured with a 4-epoch fine-tune on 2 cores). JAX can keep compiled
executables on disk keyed by the program's HLO, so a rerun, a resumed run or another
run with the same shapes skips those compiles. ``lepton-codesign search`` and ``serve``
switch it on; nothing else does (the Python API leaves JAX's settings alone).

Where: ``$LEPTON_JAX_CACHE`` if set (``off``, ``0`` or empty: no cache), else
``$XDG_CACHE_HOME/lepton-codesign/jax`` (``~/.cache/...``). JAX owns the format and
invalidates entries across versions; deleting the folder is always safe.

Example:
    >>> import os
    >>> os.environ["LEPTON_JAX_CACHE"] = "off"
    >>> cache_dir() is None
    True
"""

from __future__ import annotations

import os
from pathlib import Path

OFF = ("", "0", "off", "false", "no")


def cache_dir() -> Path | None:
    """The cache folder these commands use, or ``None`` when switched off."""
    value = os.environ.get("LEPTON_JAX_CACHE")
    if value is not None:
        return None if value.strip().lower() in OFF else Path(value).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "lepton-codesign" / "jax"


def enable_compilation_cache() -> Path | None:
    """Point JAX's persistent compilation cache at ``cache_dir()`` (every compile kept).

    Returns the folder, or ``None`` when switched off or the folder cannot be created
    (the command then runs without a cache, as before).
    """
    path = cache_dir()
    if path is None:
        return None
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    import jax

    if jax.config.jax_compilation_cache_dir != str(path):
        jax.config.update("jax_compilation_cache_dir", str(path))
        try:  # JAX opens its cache once per process: re-open it at the new folder
            from jax.experimental.compilation_cache import compilation_cache

            compilation_cache.reset_cache()
        except (ImportError, AttributeError):
            pass
    # [M] keep every entry: the trainer's many small compiles are where the time goes
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return path
