"""Where a key of a TOML document is: ``(table path, key) -> line``.

:mod:`tomllib` parses values but keeps no positions, and a lab file error must name its line.  This
scanner walks the text once and notes the line of every table header (``[scenario.expect]``,
``[[scenario]]`` with its index) and of every ``key =`` inside it.  It only has to agree with
tomllib on documents tomllib has already accepted, so it ignores what cannot change a position:
values (multi-line strings and arrays are skipped as a whole), comments, whitespace.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

Path = tuple[str | int, ...]

_BARE = r"[A-Za-z0-9_-]+"
_QUOTED = r'"(?:[^"\\]|\\.)*"|\'[^\']*\''
_KEY = rf"(?:{_BARE}|{_QUOTED})(?:\s*\.\s*(?:{_BARE}|{_QUOTED}))*"
_HEADER = re.compile(rf"^\s*(\[\[?)\s*({_KEY})\s*\]\]?\s*(#.*)?$")
_ASSIGN = re.compile(rf"^\s*({_KEY})\s*=")
_PART = re.compile(rf"{_BARE}|{_QUOTED}")


def _parts(key: str) -> list[str]:
    return [p[1:-1] if p[0] in "\"'" else p for p in _PART.findall(key)]


@dataclass
class KeyLocator:
    """Lines of keys and tables; ``line(("scenario", 0, "expect", "max_stall"))``."""

    lines: dict[Path, int] = field(default_factory=dict)

    @classmethod
    def scan(cls, text: str) -> KeyLocator:
        loc = cls()
        counts: dict[tuple[str | int, ...], int] = {}
        table: Path = ()
        skip_until: str | None = None
        depth = 0
        for number, raw in enumerate(text.splitlines(), start=1):
            if skip_until is not None:  # inside a multi-line string
                if skip_until in raw:
                    skip_until = None
                continue
            if depth > 0:  # inside a multi-line array
                depth += _bracket_balance(raw)
                continue
            header = _HEADER.match(raw)
            if header:
                names = _parts(header.group(2))
                if header.group(1) == "[[":
                    base = (*_resolve(tuple(names[:-1]), counts), names[-1])
                    index = counts.get(base, 0)
                    counts[base] = index + 1
                    table = (*base, index)
                else:
                    table = _resolve(tuple(names), counts)
                loc.lines.setdefault(table, number)
                continue
            assign = _ASSIGN.match(raw)
            if not assign:
                continue
            path = table + tuple(_parts(assign.group(1)))
            loc.lines.setdefault(path, number)
            rest = raw[assign.end():]
            for quote in ('"""', "'''"):
                if rest.count(quote) == 1:
                    skip_until = quote
            if skip_until is None:
                depth = max(0, _bracket_balance(rest))
        return loc

    def line(self, path: Path) -> int | None:
        """The line of ``path``, else of the nearest enclosing table or key that has one."""
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return None


def _resolve(names: tuple[str, ...], counts: dict[tuple[str | int, ...], int]) -> Path:
    """``[scenario.expect]`` under ``[[scenario]]`` means the last scenario's table."""
    out: list[str | int] = []
    for name in names:
        out.append(name)
        n = counts.get(tuple(out))
        if n:
            out.append(n - 1)
    return tuple(out)


def _bracket_balance(text: str) -> int:
    """Opening minus closing brackets outside strings and comments."""
    balance, quote = 0, ""
    for ch in text:
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch == "#":
            break
        elif ch in "[{":
            balance += 1
        elif ch in "]}":
            balance -= 1
    return balance


__all__ = ["KeyLocator"]
