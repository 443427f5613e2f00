"""The Messages pane: a Line API ``ScrollView`` that draws only the rows on screen.

A million-row capture costs one ``array`` of row numbers here (the :class:`~droidcap.tui.model.View`);
each visible line is made from its decoded event when it is drawn.  The pane follows the end of a
growing capture until the cursor leaves the last row; then new rows are counted ("+N new") and
End resumes following.  An aggregate's wire row carries a fold marker (``▸`` folded, ``▾``
expanded, a click on it toggles) and its shown sub-messages are indented under it.
"""

from __future__ import annotations

from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from droidcap.capture.events import Direction
from droidcap.tui.model import (
    COMMAND,
    HANDSHAKE,
    KEYFRAME,
    MEDIA,
    PROBLEM,
    UNCERTAIN,
    CaptureIndex,
    View,
    row_text,
    type_label,
)

SHORT_TYPES = {
    "set_chunk_size": "chunksize", "abort": "abort", "acknowledgement": "ack",
    "user_control": "userctl", "window_ack_size": "winack", "set_peer_bandwidth": "peerbw",
    "command_amf0": "command", "command_amf3": "command3", "data_amf0": "data", "data_amf3": "data3",
    "shared_object_amf0": "sharedobj", "shared_object_amf3": "sharedobj",
}
ARROWS = {Direction.C2S: "→", Direction.S2C: "←"}
HEADER = f"  {'frame':>7} {'time':>9} d {'cs':>2} {'sid':>3} {'type':<9} summary"
MARKER_X = len(HEADER) - len("summary")  # where the summary, and an aggregate's fold marker, start

_PROBLEM = Style(color="red", bold=True)
_UNCERTAIN = Style(color="yellow")
_COMMAND = Style(color="cyan", bold=True)
_MEDIA = Style(dim=True)
_HANDSHAKE = Style(color="magenta")
_KEY = Style(color="green")
_CURSOR = Style(reverse=True)
_PLAIN = Style()  # never a None style: the NO_COLOR filter reads every segment's style


class MessageList(ScrollView, can_focus=True):
    """The rows of a :class:`View`, one line each, with a cursor."""

    # ScrollView scrolls on these keys; here they move the cursor (the screen's actions)
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "screen.step(-1)", "Previous row", show=False),
        Binding("down", "screen.step(1)", "Next row", show=False),
        Binding("home", "screen.first", "First row", show=False),
        Binding("end", "screen.last", "Last row", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("ctrl+u", "page(-1)", "Page up", show=False),
        Binding("ctrl+d", "page(1)", "Page down", show=False),
    ]

    cursor: reactive[int] = reactive(0, always_update=True, init=False)
    absolute_time: reactive[bool] = reactive(False)

    class Moved(Message):
        """The cursor is on another row (``row`` is an index row, None when the view is empty)."""

        def __init__(self, row: int | None) -> None:
            super().__init__()
            self.row = row

    def __init__(self, index: CaptureIndex, view: View, bookmarks: set[int], *,
                 id: str | None = None) -> None:
        super().__init__(id=id)
        self.index = index
        self.view = view
        self.bookmarks = bookmarks
        self.following = True
        self.unseen = 0  # rows added while not following

    # -- data ------------------------------------------------------------------------------------

    def set_view(self, view: View, *, row: int | None) -> None:
        """Show another filtered view, keeping the cursor on ``row`` or the nearest row after it."""
        self.view = view
        self._resize()
        self.move_to(0 if row is None or not len(view) else view.position_of(row), center=True)

    def rows_added(self) -> None:
        """The index grew: take its new rows, and follow the end if we are following."""
        added = self.view.extend()
        if not added:
            return
        self._resize()
        if self.following:
            self.move_to(len(self.view) - 1)
        else:
            self.unseen += added
        self.refresh()

    def toggle_fold(self) -> bool:
        """Fold or unfold the aggregate under the cursor (its wire row or a sub-message), the
        cursor then on its wire row; False if there is none."""
        row = self.row
        agg = None if row is None else self.view.foldable(row)
        if agg is None:
            return False
        pos = self.view.toggle(agg)
        self._resize()
        self.move_to(pos)
        self.refresh()
        return True

    def reveal(self, row: int) -> int:
        """The position of ``row``, after unfolding the aggregate it is folded in (if it is)."""
        before = len(self.view)
        pos = self.view.reveal(row)
        if len(self.view) != before:
            self._resize()
            self.refresh()
        return pos

    def _resize(self) -> None:
        self.virtual_size = Size(self.size.width, len(self.view))

    def on_resize(self) -> None:
        self._resize()

    @property
    def row(self) -> int | None:
        """The index row under the cursor."""
        view = self.view
        return view.rows[self.cursor] if 0 <= self.cursor < len(view) else None

    # -- moving ----------------------------------------------------------------------------------

    def move_to(self, pos: int, *, center: bool = False) -> None:
        n = len(self.view)
        pos = max(0, min(pos, n - 1)) if n else 0
        self.following = n == 0 or pos == n - 1
        if self.following:
            self.unseen = 0
        self.cursor = pos
        self.scroll_to_region(Region(0, pos, 1, 1), animate=False, center=center, force=True)

    def watch_cursor(self) -> None:
        self.refresh()
        self.post_message(self.Moved(self.row))

    def watch_absolute_time(self) -> None:
        self.refresh()

    def action_page(self, direction: int) -> None:
        self.move_to(self.cursor + direction * max(1, self.size.height - 1))

    def on_click(self, event: events.Click) -> None:
        self.move_to(self.scroll_offset.y + event.y)
        row = self.row
        if row is not None and row in self.index.aggregates and MARKER_X <= event.x < MARKER_X + 2:
            self.toggle_fold()

    # -- drawing ---------------------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        pos = self.scroll_offset.y + y
        width = self.size.width
        view = self.view
        if pos >= len(view):
            return Strip.blank(width, _PLAIN)
        row = view.rows[pos]
        here = pos == self.cursor
        # the pointer as well as the reverse video: NO_COLOR's monochrome drops styles
        segments = [Segment("▶" if here else " ", _PLAIN), *self._segments(row, pos)]
        strip = Strip(segments, None).adjust_cell_length(width, _PLAIN)
        return strip.apply_style(_CURSOR) if here else strip

    def _segments(self, row: int, pos: int) -> list[Segment]:
        index = self.index
        item = index.items[row]
        ev = item.event
        flags = index.flags[row]
        if row in self.bookmarks:
            mark, mark_style = "*", _KEY
        elif flags & PROBLEM:
            mark, mark_style = "!", _PROBLEM
        elif flags & UNCERTAIN:
            mark, mark_style = "?", _UNCERTAIN
        else:
            mark, mark_style = " ", Style()
        when = f"{ev.time % 86400 if self.absolute_time else index.relative_time(row):9.3f}"
        csid = getattr(ev, "csid", None)
        sid = getattr(ev, "stream_id", None)
        label = type_label(item)
        label = SHORT_TYPES.get(label, label)
        view = self.view
        run = view.runs.get(row)
        agg = index.aggregates.get(row) if index.aggregates else None
        lead = ""  # an aggregate's fold marker, a sub-message's branch: before "(uncertain)"
        if run is not None and run.last != row:
            text = run.text()
            label, flags = "media…", flags & ~KEYFRAME | (UNCERTAIN if run.uncertain else 0)
        elif agg is not None:
            folded = row not in view.expanded
            lead, text = ("▸ " if folded else "▾ "), agg.text()
            if agg.media_only:
                flags |= MEDIA
            if folded and mark == " " and any(agg.head < b <= agg.last for b in self.bookmarks):
                mark, mark_style = "*", _KEY  # a bookmark folded inside
        else:
            text = row_text(item)
            parent = index.parent(row) if index.aggregates else None
            if parent is not None:  # a sub-message, indented under its wire row
                last = pos + 1 >= len(view) or view.rows[pos + 1] > parent.last
                lead = "  └ " if last else "  ├ "
        if flags & UNCERTAIN:
            text = "(uncertain) " + text
        text = lead + text
        style = (_PROBLEM if flags & PROBLEM else _UNCERTAIN if flags & UNCERTAIN
                 else _KEY if flags & KEYFRAME else _COMMAND if flags & COMMAND
                 else _HANDSHAKE if flags & HANDSHAKE else _MEDIA if flags & MEDIA else Style())
        head = (f"{ev.frame:>7} {when} {ARROWS[item.dir]} "
                f"{'' if csid is None else csid:>2} {'' if sid is None else sid:>3} {label:<9.9} ")
        return [Segment(mark, mark_style), Segment(head, _PLAIN), Segment(text, style)]
