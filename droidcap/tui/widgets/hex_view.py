"""The Hex pane: a message's wire bytes, chunk headers marked, the selected field's bytes lit."""

from __future__ import annotations

from rich.segment import Segment
from rich.style import Style
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from droidcap.tui.chunkmap import MessageBytes
from droidcap.tui.wiremap import Ranges

MAX_SHOWN = 16 * 1024  # bytes drawn; the rest is counted
_HEADER = Style(color="yellow", bold=True, underline=True)
_LIT = Style(reverse=True)


class HexView(ScrollView):
    """Offsets, 16 bytes a line, and their ASCII; chunk header bytes are underlined and bold, the
    bytes of the field selected in the Details tree reversed (several ranges when the field
    straddles chunks: the chunk header between them is not the field's).

    A Line API view: the lines are plain strings with the marked runs noted beside them, and only
    the lines on screen are turned into segments — a 16 KB message is a thousand lines, and laying
    them all out on every selection cost tens of milliseconds."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.raw: MessageBytes | None = None
        self.lit: Ranges = ()
        self._lines: list[str] = [""]
        self._spans: dict[int, list[tuple[int, int, Style]]] = {}

    def show(self, raw: MessageBytes | None, note: str = "") -> None:
        self.raw, self.lit = raw, ()
        if raw is None:
            self._set(note.splitlines() or [""], {})
        else:
            self._layout()
        self.scroll_home(animate=False)

    def light(self, ranges: Ranges | None) -> None:
        self.lit = ranges or ()
        if self.raw is None:
            return
        self._layout()
        if self.lit:  # bring the field's first line into view
            line = 1 + min(start for start, _ in self.lit) // 16
            top = self.scroll_offset.y
            if not top <= line < top + self.size.height:
                self.scroll_to(y=max(0, line - 1), animate=False)

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        n = scroll_y + y
        width = self.size.width
        if n >= len(self._lines):
            return Strip.blank(width, _PLAIN)
        text = self._lines[n]
        segments, at = [], 0
        for start, end, style in self._spans.get(n, ()):
            if at < start:
                segments.append(Segment(text[at:start], _PLAIN))
            segments.append(Segment(text[start:end], style))
            at = end
        if at < len(text):
            segments.append(Segment(text[at:], _PLAIN))
        return Strip(segments).crop(scroll_x, scroll_x + width).adjust_cell_length(width, _PLAIN)

    def _set(self, lines: list[str], spans: dict[int, list[tuple[int, int, Style]]]) -> None:
        self._lines, self._spans = lines, spans
        self.virtual_size = Size(max(len(line) for line in lines), len(lines))
        self.refresh()

    def _layout(self) -> None:
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
        summary = (f"{len(raw.data)} B on the wire: {len(raw.chunks)} chunk(s), headers "
                   f"({'/'.join(str(s) for s in sorted(sizes))} B) underlined, body {raw.length} B")
        lines = [summary]
        spans: dict[int, list[tuple[int, int, Style]]] = {}
        for off in range(0, len(data), 16):
            line = data[off:off + 16]
            hexes = line[:8].hex(" ") + ("  " + line[8:].hex(" ") if len(line) > 8 else "")
            row = marks[off:off + 16]
            if any(row):
                hex_runs, ascii_runs = [], []
                j = 0
                while j < len(row):
                    mark, k = row[j], j + 1
                    while k < len(row) and row[k] == mark:
                        k += 1
                    if mark:
                        style = _LIT if mark == 2 else _HEADER
                        hex_runs.append((_hex_at(j), _hex_at(k - 1) + 2, style))
                        ascii_runs.append((_ASCII + j, _ASCII + k, style))
                    j = k
                spans[len(lines)] = hex_runs + ascii_runs
            lines.append(f"{off:05x} {hexes:<49} {line.translate(_PRINTABLE).decode('ascii')}")
        if len(raw.data) > MAX_SHOWN:
            lines.append(f"… {len(raw.data) - MAX_SHOWN} more bytes not drawn")
        self._set(lines, spans)


_PLAIN = Style()
_ASCII = 6 + 49 + 1  # where a line's ASCII column starts
_PRINTABLE = bytes(b if 32 <= b < 127 else ord(".") for b in range(256))


def _hex_at(j: int) -> int:
    """Where byte ``j`` of a line starts in its hex column."""
    return 6 + 3 * j + (j > 7)
