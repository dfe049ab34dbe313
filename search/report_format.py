"""Human-readable numbers for reports: SI prefixes, dollars, percentages, per-key units.

Every report (``report.md``, ``report.html``) formats numbers through these helpers, so a
latency reads ``29.9 us`` rather than ``2.99e-05``. The unit of a value comes from its
name, following the project's convention of units in names (``latency_s``, ``energy_j``,
``usd_per_1m_inferences``, ``freq_hz``). ASCII ``u`` stands for micro so that every
output (CSV, Markdown, HTML, terminals) shows it alike.

Example:
    >>> si(2.99e-5, "s"), si(4.0e-6, "J"), usd(0.7712, "per 1M")
    ('29.9 us', '4.00 uJ', '$0.77 per 1M')
    >>> objective("error", 0.317), hardware("freq_hz", 2.43e8)
    ('31.7 %', '243 MHz')
"""

from __future__ import annotations

import math

_PREFIXES = ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"), (1.0, ""), (1e-3, "m"),
             (1e-6, "u"), (1e-9, "n"), (1e-12, "p"), (1e-15, "f"))
MISSING = "n/a"


def _digits(x: float, sig: int) -> str:
    """``x`` with ``sig`` significant digits, trailing zeros kept (``4.00``, ``29.9``)."""
    x = float(f"{x:.{sig - 1}e}")  # round first: 0.99996 -> 1.00, not 1.000
    if x == 0:
        return f"{0:.{sig - 1}f}"
    decimals = max(0, sig - 1 - math.floor(math.log10(abs(x))))
    return f"{x:.{decimals}f}"


def _bad(value) -> bool:
    return value is None or isinstance(value, bool) or not math.isfinite(float(value))


def si(value: float | None, unit: str, sig: int = 3) -> str:
    """``value`` with an SI prefix (f ... T) and ``sig`` significant digits.

    Example:
        >>> si(1.5e-9, "s"), si(0.0, "J"), si(None, "s")
        ('1.50 ns', '0.00 J', 'n/a')
    """
    if _bad(value):
        return MISSING
    v = float(value)
    if v == 0:
        return f"{_digits(0.0, sig)} {unit}"
    for scale, prefix in _PREFIXES:
        if abs(float(_digits(v / scale, sig))) >= 1.0:  # 999.96e-6 s reads 1.00 ms
            return f"{_digits(v / scale, sig)} {prefix}{unit}"
    return f"{v:.{sig - 1}e} {unit}"


def usd(value: float | None, suffix: str = "") -> str:
    """Dollars: cents from $0.01 up, 3 significant digits down to $0.0001, then exponent.

    Example:
        >>> usd(1234.5), usd(5.712e-4, "per 1M"), usd(7.7e-7)
        ('$1,234.50', '$0.000571 per 1M', '$7.70e-07')
    """
    if _bad(value):
        return MISSING
    v = float(value)
    if v == 0 or abs(v) >= 0.01:
        text = f"${v:,.2f}"
    elif abs(v) >= 1e-4:
        text = f"${_digits(v, 3)}"
    else:
        text = f"${v:.2e}"
    return f"{text} {suffix}".strip()


def percent(value: float | None, sig: int = 3) -> str:
    """A fraction as a percentage: ``0.317 -> '31.7 %'``."""
    return MISSING if _bad(value) else f"{_digits(100 * float(value), sig)} %"


def plain(value, sig: int = 4) -> str:
    """Numbers with ``sig`` significant digits (``g`` style); anything else as text."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return MISSING if value is None else str(value)
    if isinstance(value, int):
        return f"{value:,}"
    return MISSING if not math.isfinite(value) else f"{value:.{sig}g}"


def objective(name: str, value: float | None) -> str:
    """Format an objective by the unit in its name.

    Example:
        >>> objective("latency_s", 2.99e-5), objective("usd_per_1m_inferences", 0.77)
        ('29.9 us', '$0.77 per 1M')
    """
    if name.startswith("usd") or name.endswith("_usd"):
        return usd(value, "per 1M" if "per_1m" in name else "")
    if name in ("error", "accuracy") or name.endswith(("_error", "_accuracy", "_fraction")):
        return percent(value)
    for suffix, unit in (("_s", "s"), ("_j", "J"), ("_w", "W"), ("_hz", "Hz")):
        if name.endswith(suffix):
            return si(value, unit)
    if name.endswith("_mm2"):
        return MISSING if _bad(value) else f"{_digits(float(value), 3)} mm2"
    return plain(value)


def binary_bytes(value: float | None, sig: int = 3) -> str:
    """A size in bytes with a binary prefix (B, KiB, MiB, GiB, TiB).

    Example:
        >>> binary_bytes(54620.16), binary_bytes(512), binary_bytes(3 * 2**30)
        ('53.3 KiB', '512 B', '3.00 GiB')
    """
    if _bad(value):
        return MISSING
    v = float(value)
    for power, unit in ((4, "TiB"), (3, "GiB"), (2, "MiB"), (1, "KiB")):
        if abs(v) >= 1024.0**power:
            return f"{_digits(v / 1024.0**power, sig)} {unit}"
    return f"{v:g} B"


def hardware(key: str, value) -> str:
    """Format a hardware setting by the unit in its key (``ifmap_sram_bytes``, ``node_nm``).

    Keys ending ``_bytes`` take binary prefixes, ``_bytes_per_s`` decimal ones; the
    ``_kib`` / ``_gbps`` keys of older results are still read.

    Example:
        >>> hardware("dram_bandwidth_bytes_per_s", 3.404e9), hardware("node_nm", 28.0)
        ('3.40 GB/s', '28 nm')
        >>> hardware("filter_sram_bytes", 14438.4), hardware("dataflow", "ws")
        ('14.1 KiB', 'ws')
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        return plain(value)
    if _bad(value):
        return MISSING
    if key.endswith("_bytes_per_s"):
        return si(value, "B/s")
    if key.endswith("_bytes"):
        return binary_bytes(value)
    if "_kib" in key:
        return f"{_digits(float(value), 3)} KiB"
    if key.endswith("_gbps"):
        return f"{_digits(float(value), 3)} GB/s"
    if key.endswith("_nm"):
        return f"{float(value):g} nm"
    return objective(key, value)
