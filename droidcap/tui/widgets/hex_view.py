"""The Hex pane: a message's wire bytes, chunk headers marked, the selected field's bytes lit."""

from __future__ import annotations

from rich.style import Style
from rich.text import Text
from textual.widgets import Static

from droidcap.tui.chunkmap import MessageBytes
from droidcap.tui.wiremap import Ranges

MAX_SHOWN = 16 * 1024  # bytes drawn; the rest is counted
_HEADER = Style(color="yellow", bold=True, underline=True)
_LIT = Style(reverse=True)


class HexView(Static):
    """Offsets, 16 bytes a line, and their ASCII; chunk header bytes are underlined and bold, the
    bytes of the field selected in the Details tree reversed (several ranges when the field
    straddles chunks: the chunk header between them is not the field's)."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id)
        self.raw: MessageBytes | None = None
        self.lit: Ranges = ()

    def show(self, raw: MessageBytes | None, note: str = "") -> None:
        self.raw, self.lit = raw, ()
        if raw is None:
            self.update(note)
        else:
            self._draw()

    def light(self, ranges: Ranges | None) -> None:
        self.lit = ranges or ()
        if self.raw is not None:
            self._draw()

    def _draw(self) -> None:
        """One plain string and a span per run of marked bytes in a line: a 16 KB message is a
        thousand lines, and a styled append per byte made each selection cost tens of ms."""
        raw = self.raw
        assert raw is not None
        data = raw.data[:MAX_SHOWN]
        marks = bytearray(len(data))  # 1: chunk header, 2: the selected field (wins)
        for ch in raw.chunks:
            stop = min(ch.start + ch.header_size, len(data))
            if ch.start < stop:
                marks[ch.start:stop] = b"\x01" * (stop - ch.start)
        for start, end in self.lit:
            stop = min(end, len(data))
            if start < stop:
                marks[start:stop] = b"\x02" * (stop - start)
        sizes = {ch.header_size for ch in raw.chunks}
        head = (f"{len(raw.data)} B on the wire: {len(raw.chunks)} chunk(s), headers "
                f"({'/'.join(str(s) for s in sorted(sizes))} B) underlined, body {raw.length} B\n")
        parts = [head]
        spans: list[tuple[int, int, Style]] = []
        at = len(head)
        for off in range(0, len(data), 16):
            line = data[off:off + 16]
            hexes = line[:8].hex(" ") + ("  " + line[8:].hex(" ") if len(line) > 8 else "")
            text = f"{off:05x} {hexes:<49} {line.translate(_PRINTABLE).decode('ascii')}\n"
            row = marks[off:off + 16]
            j = 0
            while j < len(row):
                mark = row[j]
                k = j + 1
                while k < len(row) and row[k] == mark:
                    k += 1
                if mark:
                    style = _LIT if mark == 2 else _HEADER
                    spans.append((at + _hex_at(j), at + _hex_at(k - 1) + 2, style))
                    spans.append((at + _ASCII + j, at + _ASCII + k, style))
                j = k
            parts.append(text)
            at += len(text)
        if len(raw.data) > MAX_SHOWN:
            parts.append(f"… {len(raw.data) - MAX_SHOWN} more bytes not drawn\n")
        out = Text("".join(parts))
        for start, end, style in spans:
            out.stylize(style, start, end)
        self.update(out)


_ASCII = 6 + 49 + 1  # where a line's ASCII column starts
_PRINTABLE = bytes(b if 32 <= b < 127 else ord(".") for b in range(256))


def _hex_at(j: int) -> int:
    """Where byte ``j`` of a line starts in its hex column."""
    return 6 + 3 * j + (j > 7)
