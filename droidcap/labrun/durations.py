"""Durations as lab files write them: ``"3s"``, ``"500ms"``, ``"1.5s"``, ``"2m"``."""

from __future__ import annotations

import re

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m)\s*$")
_FACTOR_MS = {"ms": 1.0, "s": 1000.0, "m": 60000.0}
HELP = 'a duration such as "500ms", "3s" or "2m"'


def parse_ms(text: str) -> float | None:
    """Milliseconds, or None when ``text`` is not a duration."""
    m = _DURATION.match(text)
    return float(m.group(1)) * _FACTOR_MS[m.group(2)] if m else None


def format_ms(ms: float) -> str:
    return f"{ms / 1000:g}s" if ms >= 1000 else f"{ms:g}ms"


__all__ = ["HELP", "format_ms", "parse_ms"]
