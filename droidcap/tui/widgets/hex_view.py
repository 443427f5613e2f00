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
        raw = self.raw
        assert raw is not None
        data = raw.data[:MAX_SHOWN]
        header = bytearray(len(data))
        for ch in raw.chunks:
            for i in range(ch.start, min(ch.start + ch.header_size, len(data))):
                header[i] = 1
        lit = bytearray(len(data))
        for start, end in self.lit:
            stop = min(end, len(data))
            if start < stop:
                lit[start:stop] = b"\x01" * (stop - start)
        text = Text()
        sizes = {ch.header_size for ch in raw.chunks}
        text.append(f"{len(raw.data)} B on the wire: {len(raw.chunks)} chunk(s), headers "
                    f"({'/'.join(str(s) for s in sorted(sizes))} B) underlined, body {raw.length} B\n")
        for off in range(0, len(data), 16):
            line = data[off:off + 16]
            text.append(f"{off:05x} ")
            for i, b in enumerate(line):
                at = off + i
                style = _LIT if lit[at] else _HEADER if header[at] else Style()
                text.append(f"{b:02x}", style)
                text.append(" " if i != 7 else "  ")
            text.append("   " * (16 - len(line)) + (" " if len(line) <= 7 else ""))
            text.append(" ")
            for i, b in enumerate(line):
                at = off + i
                style = _LIT if lit[at] else _HEADER if header[at] else Style()
                text.append(chr(b) if 32 <= b < 127 else ".", style)
            text.append("\n")
        if len(raw.data) > MAX_SHOWN:
            text.append(f"… {len(raw.data) - MAX_SHOWN} more bytes not drawn\n")
        self.update(text)
