"""The Timeline pane: audio and video bitrate of a connection over time, keyframes, gaps, stalls.

One column per time bucket (seconds are merged into buckets to fit the width); a click on a
column posts :class:`TimelinePane.Jump` with the first row of that bucket.
"""

from __future__ import annotations

from rich.style import Style
from rich.text import Text
from textual.events import Click
from textual.message import Message
from textual.widgets import Static

from droidcap.tui.model import TIMELINE_BIN, Bitrate, CaptureIndex

BARS = " ▁▂▃▄▅▆▇█"
LABEL = 7  # width of the row labels


class TimelinePane(Static):
    class Jump(Message):
        def __init__(self, row: int) -> None:
            super().__init__()
            self.row = row

    def __init__(self, index: CaptureIndex, *, id: str | None = None) -> None:
        super().__init__("", id=id)
        self.index = index
        self.conn: int | None = None
        self.at: float | None = None  # seconds into the connection of the selection
        self._per = 1  # seconds per column as last drawn

    def follow(self, conn: int | None, at: float | None) -> None:
        self.conn, self.at = conn, at
        self.redraw()

    def redraw(self) -> None:
        rate = None if self.conn is None else self.index.bitrates.get(self.conn)
        if rate is None or not len(rate.video):
            self.update("(no media in this connection)")
            return
        width = max(10, self.size.width - LABEL - 1)
        bins = len(rate.video)
        per = max(1, -(-bins // width))
        self._per = per
        cols = -(-bins // per)
        video = [sum(rate.video[i * per:(i + 1) * per]) for i in range(cols)]
        audio = [sum(rate.audio[i * per:(i + 1) * per]) for i in range(cols)]
        out = Text()
        peak_v = max(video) or 1
        peak_a = max(audio) or 1
        seconds = per * TIMELINE_BIN

        def kbps(size: int) -> float:
            return size * 8 / 1000 / seconds

        out.append(f"conn {self.conn}: {bins * TIMELINE_BIN:.1f} s, {per * TIMELINE_BIN:g} s per column; "
                   f"video peak {kbps(peak_v):.0f} kbit/s, audio peak {kbps(peak_a):.0f} kbit/s\n")
        out.append(f"{'video':<{LABEL}}")
        out.append("".join(BARS[min(8, -(-v * 8 // peak_v))] for v in video) + "\n", Style(color="green"))
        out.append(f"{'audio':<{LABEL}}")
        out.append("".join(BARS[min(8, -(-a * 8 // peak_a))] for a in audio) + "\n", Style(color="blue"))
        marks = []
        for i in range(cols):
            span = range(i * per, (i + 1) * per)
            if any(b in rate.problems for b in span):
                marks.append("!")
            elif any(b in rate.keyframes for b in span):
                marks.append("K")
            elif video[i] == 0 and audio[i] == 0 and 0 < i < cols - 1:
                marks.append("_")  # a stall: nothing for a whole column inside the session
            else:
                marks.append(" ")
        out.append(f"{'marks':<{LABEL}}")
        for m in marks:
            out.append(m, Style(color="red", bold=True) if m in "!_" else Style(color="yellow"))
        out.append("\n")
        cursor = [" "] * cols
        if self.at is not None:
            cursor[max(0, min(cols - 1, int(self.at / TIMELINE_BIN) // per))] = "^"
        out.append(f"{'here':<{LABEL}}" + "".join(cursor) + "\n")
        out.append("K keyframe  ! gap/skip  _ stall  ^ selection  (click a column to jump)", Style(dim=True))
        self.update(out)

    def row_at(self, x: int) -> int | None:
        """The first row of the column at screen offset ``x``, if that column has one."""
        rate: Bitrate | None = None if self.conn is None else self.index.bitrates.get(self.conn)
        if rate is None or x < LABEL:
            return None
        col = x - LABEL
        for b in range(col * self._per, (col + 1) * self._per):
            if b in rate.first_row:
                return rate.first_row[b]
        return None

    def on_click(self, event: Click) -> None:
        row = self.row_at(event.x - self.styles.padding.left)
        if row is not None:
            self.post_message(self.Jump(row))

    def on_resize(self) -> None:
        self.redraw()
