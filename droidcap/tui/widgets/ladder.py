"""The Ladder pane: client and server columns with arrows, around the selected row.

Like the flow charts in RTMP write-ups: one arrow per message, media runs as one arrow, the
selection highlighted.  An aggregate is one arrow, the wire message it is; one of media frames
only joins the media run around it.  Only the rows near the selection are looked at.
"""

from __future__ import annotations

from rich.style import Style
from rich.text import Text
from textual.widgets import Static

from droidcap.capture.events import Direction
from droidcap.session import endpoint_text
from droidcap.tui.model import MEDIA, PROBLEM, UNCERTAIN, CaptureIndex, row_text

SCAN = 4000  # rows looked at on each side of the selection


def ladder_steps(index: CaptureIndex, row: int, lines: int) -> list[tuple[int, Direction | None, str]]:
    """``(first row, direction or None for both, text)`` of the ladder steps around ``row``."""
    conn = index.conns[row]
    conns, flags, aggregates = index.conns, index.flags, index.aggregates

    def media(r: int) -> bool:
        agg = aggregates.get(r)
        return bool(flags[r] & MEDIA) if agg is None else agg.media_only

    lo = max(0, row - SCAN)
    hi = min(len(index), row + SCAN)
    steps: list[tuple[int, Direction | None, str]] = []
    here = 0
    r = lo
    while r < hi:
        if conns[r] != conn:
            r += 1
            continue
        agg = aggregates.get(r)
        if media(r) and not flags[r] & PROBLEM:
            start, audio, video, carried, dirs = r, 0, 0, 0, set()
            while r < hi and (conns[r] != conn or media(r)):
                if conns[r] == conn:
                    if r == row:
                        here = len(steps)
                    if r in aggregates:  # a wire row: its sub-messages are counted
                        carried += 1
                    else:
                        ev = index.items[r].event
                        if getattr(ev, "type_id", 0) == 8:
                            audio += 1
                        else:
                            video += 1
                        dirs.add(index.items[r].dir)
                r += 1
            if audio + video == 1:
                steps.append((start, index.items[start].dir, row_text(index.items[start])))
            else:
                parts = [f"video x{video}" if video else "", f"audio x{audio}" if audio else ""]
                steps.append((start, next(iter(dirs)) if len(dirs) == 1 else None,
                              "media: " + ", ".join(p for p in parts if p)
                              + (f" in {carried} aggregate(s)" if carried else "")))
            continue
        last = r if agg is None else agg.last
        if r <= row <= last:
            here = len(steps)
        text = row_text(index.items[r]) if agg is None else f"aggregate: {agg.text()}"
        if flags[r] & UNCERTAIN:
            text = "? " + text
        steps.append((r, index.items[r].dir, text))
        r = last + 1
    first = max(0, min(here - lines // 2, len(steps) - lines))
    return steps[first:first + lines]


class LadderPane(Static):
    def __init__(self, index: CaptureIndex, *, id: str | None = None) -> None:
        super().__init__("", id=id)
        self.index = index
        self.row: int | None = None

    def follow(self, row: int | None) -> None:
        self.row = row
        self.redraw()

    def redraw(self) -> None:
        row = self.row
        if row is None or not self.is_mounted:
            self.update("(no row selected)")
            return
        index = self.index
        c = index.items[row].connection
        width = max(40, self.size.width - 2)
        lines = max(3, self.size.height - 2)
        out = Text()
        left, right = f"client {endpoint_text(c.client)}", f"server {endpoint_text(c.server)}"
        out.append(left + " " * max(1, width - len(left) - len(right)) + right + "\n", Style(bold=True))
        inner = width - 4
        for first, direction, text in ladder_steps(index, row, lines):
            frame = index.frames[first]
            label = f"{frame} {text}"
            if len(label) > inner - 4:
                label = label[: inner - 5] + "…"
            pad = inner - len(label) - 2
            if direction is Direction.C2S:
                line = f"│ {label} {'─' * max(0, pad - 1)}▶│"
            elif direction is Direction.S2C:
                line = f"│◀{'─' * max(0, pad - 1)} {label} │"
            else:
                line = f"│◀{'─' * max(0, pad // 2 - 1)} {label} {'─' * max(0, pad - pad // 2 - 1)}▶│"
            agg = index.aggregates.get(first)
            mine = (first == row or (first <= row and index.flags[first] & MEDIA and direction is None)
                    or (agg is not None and not agg.media_only and first <= row <= agg.last))
            style = Style(reverse=True) if first == row or (mine and first <= row) else Style()
            if index.flags[first] & PROBLEM:
                style += Style(color="red")
            out.append(line + "\n", style)
        self.update(out)

    def on_resize(self) -> None:
        self.redraw()
