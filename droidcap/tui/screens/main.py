"""The main screen: Connections, Messages, and Details+Hex / Ladder / Timeline below them.

Every key is a binding here (the help screen lists them from ``BINDINGS``); every action reads
the index and the view and moves the Messages cursor.  Jumps remember where they came from, so
Backspace goes back.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import replace
from pathlib import Path
from typing import ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import ContentSwitcher, DataTable, Footer, Static, Tree

from droidcap.capture.events import Direction
from droidcap.pipeline import Connection
from droidcap.rtmp.events import Message
from droidcap.tui.chunkmap import (
    CheckpointBook,
    CursorCache,
    MessageBytes,
    RecordCheckpoints,
    Target,
    Unavailable,
)
from droidcap.tui.feed import Batch, CaptureSource
from droidcap.tui.model import (
    COMMAND,
    JUMPS,
    KEYFRAME,
    PROBLEM,
    UNCERTAIN,
    CaptureIndex,
    RowFilter,
    View,
)
from droidcap.tui.screens.help import HelpScreen
from droidcap.tui.screens.prompt import PromptScreen
from droidcap.tui.widgets.connections import ConnectionsPane
from droidcap.tui.widgets.details import DetailsTree
from droidcap.tui.widgets.hex_view import HexView
from droidcap.tui.widgets.ladder import LadderPane
from droidcap.tui.widgets.message_list import HEADER, MessageList
from droidcap.tui.widgets.timeline import TimelinePane

HEX_CACHE = 32
SCAN_AFTER = 1.0  # seconds after the first rows are up that the record scan starts
TABLES_EVERY = 0.5  # seconds between redraws of the Connections pane while indexing
ROWS_EVERY = 0.25  # ... and of the Messages pane and status line, while indexing a whole file


class MainScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "app.quit", "Quit"),
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("j,down", "step(1)", "Next row", show=False),
        Binding("k,up", "step(-1)", "Previous row", show=False),
        Binding("g,home", "first", "First row", show=False),
        Binding("G", "last", "Last row", show=False),
        Binding("end", "last", "Last row, follow new rows", show=False),
        Binding("c", "find_flag('command', 1)", "Next command", show=False),
        Binding("C", "find_flag('command', -1)", "Previous command", show=False),
        Binding("greater_than_sign", "find_flag('keyframe', 1)", "Next keyframe", show=False, key_display=">"),
        Binding("less_than_sign", "find_flag('keyframe', -1)", "Previous keyframe", show=False, key_display="<"),
        Binding("exclamation_mark", "find_flag('problem', 1)", "Next problem (gap, skip, uncertain)",
                show=False, key_display="!"),
        Binding("1", "jump('handshake')", "Jump to handshake", show=False),
        Binding("2", "jump('connect')", "Jump to connect", show=False),
        Binding("3", "jump('createStream')", "Jump to createStream", show=False),
        Binding("4", "jump('play/publish')", "Jump to play/publish", show=False),
        Binding("5", "jump('start')", "Jump to Play.Start/Publish.Start", show=False),
        Binding("6", "jump('keyframe')", "Jump to first keyframe", show=False),
        Binding("colon", "goto_frame", "Go to frame N", key_display=":"),
        Binding("at", "goto_time", "Go to time (s)", show=False, key_display="@"),
        Binding("backspace,ctrl+o", "back", "Back to previous position", show=False),
        Binding("slash", "search", "Search", key_display="/"),
        Binding("n", "search_next(1)", "Next match", show=False),
        Binding("N", "search_next(-1)", "Previous match", show=False),
        Binding("m", "bookmark", "Bookmark", show=False),
        Binding("apostrophe", "next_bookmark(1)", "Next bookmark", show=False, key_display="'"),
        Binding("quotation_mark", "next_bookmark(-1)", "Previous bookmark", show=False, key_display='"'),
        Binding("O", "toggle_filter('commands_only')", "Filter: commands only", show=False),
        Binding("M", "toggle_filter('hide_media')", "Filter: hide media", show=False),
        Binding("D", "cycle_direction", "Filter: direction", show=False),
        Binding("right_square_bracket", "cycle_conn(1)", "Filter: next connection", show=False, key_display="]"),
        Binding("left_square_bracket", "cycle_conn(-1)", "Filter: previous connection", show=False, key_display="["),
        Binding("T", "filter_types", "Filter: message types", show=False),
        Binding("R", "toggle_filter('collapse_media')", "Fold / unfold media runs", show=False),
        Binding("enter", "fold", "Expand / collapse an aggregate; unfold a media run", show=False),
        Binding("0", "clear_filter", "Clear filters", show=False),
        Binding("w", "export('row')", "Export row", show=False),
        Binding("W", "export('conn')", "Export connection", show=False),
        Binding("E", "export('view')", "Export shown rows", show=False),
        Binding("d", "pane('details')", "Details+hex"),
        Binding("l", "pane('ladder')", "Ladder"),
        Binding("t", "pane('timeline')", "Timeline"),
        Binding("z", "zoom", "Zoom list", show=False),
        Binding("A", "toggle_time", "Absolute/relative time", show=False),
    ]

    def __init__(self, index: CaptureIndex, source: CaptureSource, book: CheckpointBook | None = None) -> None:
        super().__init__()
        self.index = index
        self.source = source
        self.bookmarks: set[int] = set()
        self.expanded: set[int] = set()  # aggregates shown with their sub-messages, in every view
        self.history: list[int] = []
        self.search_query = ""
        self.row_filter = RowFilter()
        self.view = View(index, expanded=self.expanded)
        self.position: tuple[int, int | None] = (0, None)
        self.started = time.monotonic()
        self.first_screen: float | None = None
        self._record_checkpoints: RecordCheckpoints | None = None
        self._checkpoints_scanned = False
        self._records_lock = threading.Lock()
        # walks of the capture for the Hex pane, resumed when stepping forward
        self._cursors = None if source.file is None else CursorCache(source.file, self._checkpoints, book=book)
        self._tables_drawn = 0.0
        self._rows_drawn = 0.0
        self._hex_cache: OrderedDict[int, MessageBytes | str] = OrderedDict()
        self._notes_told = 0  # capture notes shown in a notification

    # -- layout ----------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Static("", id="status")
        yield ConnectionsPane(self.index, id="connections")
        with Vertical(id="messages-box"):
            yield Static(HEADER, id="messages-header")
            yield MessageList(self.index, self.view, self.bookmarks, id="messages")
        with ContentSwitcher(initial="details-box", id="bottom"):
            with Horizontal(id="details-box"):
                yield DetailsTree(id="details")
                yield HexView(id="hex")
            yield LadderPane(self.index, id="ladder")
            yield TimelinePane(self.index, id="timeline")
        yield Footer()

    def on_mount(self) -> None:
        self.rows_list.focus()
        self._status()

    @work(thread=True, group="records")
    def _scan_records(self) -> None:
        self._checkpoints()

    @property
    def rows_list(self) -> MessageList:
        return self.query_one(MessageList)

    # -- the index grows -------------------------------------------------------------------------

    def index_grew(self, batch: Batch) -> None:
        """The index took a batch.  While a whole file is being indexed the screen is redrawn a
        few times a second, not once per 1 MiB read (a redraw costs as much as decoding a
        read); a followed file or a pipe is redrawn at once, new rows must show without delay."""
        self.position = (batch.position or 0, batch.size)
        if not self.query(MessageList):
            return  # the app is closing: the worker's last batches arrive after the panes went
        if len(self.index.notes) > self._notes_told:
            self._tell_notes()
        lst = self.rows_list
        was_empty = lst.row is None
        now = time.monotonic()
        live = self.source.follow or self.source.path is None
        if not (live or was_empty or now - self._rows_drawn >= ROWS_EVERY):
            return
        self._rows_drawn = now
        lst.rows_added()
        if was_empty or now - self._tables_drawn >= TABLES_EVERY:
            # summaries cost a walk over every connection: not on every read of a big capture
            self._tables_drawn = now
            self.query_one(ConnectionsPane).refresh_rows()
        if was_empty and lst.row is not None:
            if not self.source.growing:
                lst.move_to(0)  # a file opens at its start; a growing one or a pipe follows its end
            self.first_screen = now - self.started
            if self.source.path is not None and not self.source.follow:
                # before the first look at a hex, not during it; not while the first rows are
                # drawn either (the scan holds the GIL: ~0.5 s a gigabyte)
                self.set_timer(SCAN_AFTER, self._scan_records)
        self._status()

    def _tell_notes(self) -> None:
        """Each new capture note whole, in a notification: the status line keeps only the last,
        cut at the terminal's width."""
        notes = self.index.notes
        for note in notes[self._notes_told:self._notes_told + 3]:
            self.notify(note.message, title="capture", severity="warning", timeout=8)
        self._notes_told = len(notes)

    def index_done(self) -> None:
        if not self.query(MessageList):
            return  # closing
        self._tell_notes()
        if self.index.error:
            self.notify(self.index.error, title="capture", severity="error", timeout=10)
        self.rows_list.rows_added()
        self.query_one(ConnectionsPane).refresh_rows()
        self._status()
        self._follow_panes(self.rows_list.row)

    def _status(self) -> None:
        index = self.index
        bits = [self.source.label]
        if not index.done:
            done, size = self.position
            pct = f" {100 * done / size:.0f}%" if size and not self.source.growing else ""
            bits.append(f"indexing{pct}… {len(index):,} rows")
        else:
            bits.append(f"{len(index):,} rows, {len(index.connections)} connection(s)")
        if self.source.follow and not index.done:
            bits.append("following")
        if self.row_filter.active:
            bits.append(f"filter: {self.row_filter.describe()} ({len(self.view):,} shown)")
        lst = self.rows_list
        if lst.unseen and self.source.growing:  # a whole file is indexed at the top
            bits.append(f"+{lst.unseen} new (End follows)")
        if self.search_query:
            bits.append(f"search: {self.search_query!r}")
        if index.error:
            bits.append(f"! {index.error}")
        if index.notes:  # what the capture layer skipped or could not read: never silent
            more = f" (+{len(index.notes) - 1} more notes)" if len(index.notes) > 1 else ""
            bits.append(f"! {index.notes[-1].message}{more}")
        self.query_one("#status", Static).update(" · ".join(bits))

    # -- selection -------------------------------------------------------------------------------

    def on_message_list_moved(self, message: MessageList.Moved) -> None:
        self._follow_panes(message.row)
        self._status()

    def _follow_panes(self, row: int | None) -> None:
        index = self.index
        item = None if row is None else index.items[row]
        summary = None if item is None else index.summary(item.connection.conn)
        raw, note = self._hex_for(row)
        self.query_one(DetailsTree).show(item, summary, raw, note)
        hexview = self.query_one(HexView)
        hexview.show(raw, note or "")
        bottom = self.query_one(ContentSwitcher).current
        if bottom == "ladder":
            self.query_one(LadderPane).follow(row)
        elif bottom == "timeline":
            conn = None if row is None else index.conns[row]
            self.query_one(TimelinePane).follow(conn, None if row is None else index.relative_time(row))
        if row is not None and raw is None and note is None:
            item = index.items[row]  # read here: the index belongs to this thread
            self._load_hex(row, item.connection, item.dir, index.hex_target(row))

    def _hex_for(self, row: int | None) -> tuple[MessageBytes | None, str | None]:
        """The chunk bytes of a row if known; else None and why (None: being read)."""
        if row is None:
            return None, ""
        ev = self.index.items[row].event
        if type(ev) is not Message or ev.aggregate:
            return None, "(no chunk bytes: not a whole RTMP message)"
        if self.source.file is None:
            return None, "(chunk bytes need the capture file)"
        cached = self._hex_cache.get(row)
        if cached is None:
            return None, None
        return (None, cached) if isinstance(cached, str) else (cached, None)

    @work(thread=True, exclusive=True, group="hex")
    def _load_hex(self, row: int, c: Connection, rtmp_dir: Direction, target: Target) -> None:
        """Re-read the capture for this message's chunks (a thread: it may take a while)."""
        assert self._cursors is not None
        result: MessageBytes | str
        if not c.handshake_seen:
            result = "(chunk bytes: the capture starts mid-connection, chunk framing is inferred)"
        else:
            try:
                result = self._cursors.find(client=c.client, server=c.server, opened_frame=c.opened_frame,
                                            rtmp_dir=rtmp_dir, target=target)
            except Unavailable as err:
                result = f"(chunk bytes unavailable: {err})"
        self.app.call_from_thread(self._hex_loaded, row, result)

    def _checkpoints(self) -> RecordCheckpoints | None:
        """Record offsets of the capture file, scanned once; a file that may still grow (followed,
        or standard input's copy) is scanned on from where the last scan stopped."""
        path = self.source.file
        if path is None:
            return None
        with self._records_lock:
            try:
                if not self._checkpoints_scanned:
                    self._checkpoints_scanned = True
                    self._record_checkpoints = RecordCheckpoints.build(path)
                elif self._record_checkpoints is not None and self.source.growing:
                    self._record_checkpoints.extend(path)
            except OSError:
                pass  # unreadable: the indexer says so; walks read from the start, and fail alike
            return self._record_checkpoints

    def on_unmount(self) -> None:
        if self._cursors is not None:
            self._cursors.close()

    def _hex_loaded(self, row: int, result: MessageBytes | str) -> None:
        self._hex_cache[row] = result
        while len(self._hex_cache) > HEX_CACHE:
            self._hex_cache.popitem(last=False)
        if self.rows_list.row == row:
            self._follow_panes(row)

    def on_tree_node_highlighted(self, event: Tree.NodeHighlighted[tuple[tuple[int, int], ...] | None]) -> None:
        self.query_one(HexView).light(event.node.data)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self._set_filter(replace(self.row_filter, conn=event.cursor_row))

    def on_timeline_pane_jump(self, message: TimelinePane.Jump) -> None:
        self._go_row(message.row)

    # -- moving ----------------------------------------------------------------------------------

    def _go(self, pos: int | None, *, remember: bool = True, what: str = "") -> None:
        lst = self.rows_list
        if pos is None:
            self.notify(f"no {what} found" if what else "nothing there", severity="warning", timeout=2)
            return
        if remember and lst.row is not None:
            self.history.append(lst.row)
            del self.history[:-200]
        lst.move_to(pos, center=remember)

    def _go_row(self, row: int) -> None:
        if not self.view.can_show(row):
            self._set_filter(RowFilter())
        self._go(self.rows_list.reveal(row))

    def _go_found(self, row: int | None, *, remember: bool = True, what: str = "",
                  reveal: bool = True) -> None:
        """Move to a row a find gave, unfolding the aggregate it is folded in (without
        ``reveal``: onto the aggregate's wire row)."""
        pos = None if row is None else self.rows_list.reveal(row) if reveal else self.view.position_of(row)
        self._go(pos, remember=remember, what=what)

    def action_step(self, delta: int) -> None:
        self._go(self.rows_list.cursor + delta, remember=False)

    def action_first(self) -> None:
        self._go(0)

    def action_last(self) -> None:
        self._go(max(0, len(self.view) - 1))
        self._status()

    def action_find_flag(self, what: str, direction: int) -> None:
        mask = {"command": COMMAND, "keyframe": KEYFRAME, "problem": PROBLEM | UNCERTAIN}[what]
        flags = self.index.flags
        row = self.view.find(self.rows_list.cursor, lambda r: bool(flags[r] & mask), forward=direction > 0)
        self._go_found(row, what=what)

    def action_jump(self, jump: str) -> None:
        index = self.index
        # the first one in the selected row's connection, else the first anywhere
        conn = None if self.rows_list.row is None else index.conns[self.rows_list.row]
        found = self.view.find(-1, lambda r: index.conns[r] == conn and index.matches_jump(r, jump))
        if found is None:
            found = self.view.find(-1, lambda r: index.matches_jump(r, jump))
        self._go_found(found, what=JUMPS[jump])

    def action_back(self) -> None:
        if not self.history:
            self.notify("no earlier position", timeout=2)
            return
        self._go_row(self.history.pop())
        self.history.pop()  # _go remembered where Back came from; Back again goes further back

    def action_goto_frame(self) -> None:
        def answer(value: str | None) -> None:
            if value is None:
                return
            try:
                frame = int(value.strip())
            except ValueError:
                self.notify(f"{value!r} is not a frame number", severity="error")
                return
            self._go(self.view.find_frame(frame), what=f"row at frame {frame} or later")

        self.app.push_screen(PromptScreen("Go to frame:"), answer)

    def action_goto_time(self) -> None:
        def answer(value: str | None) -> None:
            if value is None:
                return
            try:
                seconds = float(value.strip().rstrip("s"))
            except ValueError:
                self.notify(f"{value!r} is not a time in seconds", severity="error")
                return
            self._go(self.view.find_time(seconds), what=f"row {seconds} s or later")

        self.app.push_screen(PromptScreen("Go to time (seconds since the connection opened):"), answer)

    # -- search ----------------------------------------------------------------------------------

    def action_search(self) -> None:
        start = self.rows_list.cursor

        def live(value: str) -> None:  # incremental: each keystroke moves to the first match
            if value:
                self._search(value, start - 1, 1, remember=False)

        def answer(value: str | None) -> None:
            if value:
                self.search_query = value
                self._search(value, start - 1, 1)
            self._status()

        self.app.push_screen(PromptScreen("Search commands and AMF values:", on_change=live), answer)

    def _search(self, query: str, start: int, direction: int, *, remember: bool = True) -> None:
        needle = query.lower()
        index = self.index
        row = self.view.find(start, lambda r: needle in index.search_text(r),
                             forward=direction > 0, wrap=True)
        # while typing the cursor previews a match on its wire row; Enter unfolds its aggregate
        self._go_found(row, remember=remember, what=f"match for {query!r}", reveal=remember)

    def action_search_next(self, direction: int) -> None:
        if not self.search_query:
            self.notify("no search yet: press / first", timeout=2)
            return
        self._search(self.search_query, self.rows_list.cursor, direction)

    # -- bookmarks -------------------------------------------------------------------------------

    def action_bookmark(self) -> None:
        row = self.rows_list.row
        if row is None:
            return
        if row in self.bookmarks:
            self.bookmarks.discard(row)
        else:
            self.bookmarks.add(row)
        self.rows_list.refresh()

    def action_next_bookmark(self, direction: int) -> None:
        marks = self.bookmarks
        row = self.view.find(self.rows_list.cursor, marks.__contains__, forward=direction > 0, wrap=True)
        self._go_found(row, what="bookmark")

    # -- filters ---------------------------------------------------------------------------------

    def _set_filter(self, row_filter: RowFilter) -> None:
        self.row_filter = row_filter
        self.view = View(self.index, row_filter, self.expanded)
        self.rows_list.set_view(self.view, row=self.rows_list.row)
        self._status()

    def action_toggle_filter(self, name: str) -> None:
        f = self.row_filter
        if name == "commands_only":
            self._set_filter(replace(f, commands_only=not f.commands_only))
        elif name == "hide_media":
            self._set_filter(replace(f, hide_media=not f.hide_media))
        else:
            self._set_filter(replace(f, collapse_media=not f.collapse_media))

    def action_fold(self) -> None:
        row = self.rows_list.row
        if row is not None and row in self.view.runs:
            self._set_filter(replace(self.row_filter, collapse_media=False))
        else:
            self.rows_list.toggle_fold()

    def action_cycle_direction(self) -> None:
        order = [None, Direction.C2S, Direction.S2C]
        nxt = order[(order.index(self.row_filter.direction) + 1) % 3]
        self._set_filter(replace(self.row_filter, direction=nxt))

    def action_cycle_conn(self, delta: int) -> None:
        n = len(self.index.connections)
        if not n:
            return
        current = self.row_filter.conn
        nxt = (0 if delta > 0 else n - 1) if current is None else current + delta
        conn = nxt if 0 <= nxt < n else None
        self._set_filter(replace(self.row_filter, conn=conn))

    def action_filter_types(self) -> None:
        def answer(value: str | None) -> None:
            if value is None:
                return
            names = frozenset(v.strip() for v in value.replace(",", " ").split() if v.strip())
            self._set_filter(replace(self.row_filter, types=names or None))

        current = ",".join(sorted(self.row_filter.types or ()))
        self.app.push_screen(PromptScreen(
            "Show only these types (e.g. command_amf0 video audio set_chunk_size handshake gap):",
            current), answer)

    def action_clear_filter(self) -> None:
        self._set_filter(RowFilter())

    # -- export ----------------------------------------------------------------------------------

    def action_export(self, what: str) -> None:
        row = self.rows_list.row
        if row is None:
            return
        index = self.index
        conn = index.conns[row]
        if what == "row":  # an aggregate's wire row is the one message its sub-messages came in
            agg = index.aggregates.get(row)
            rows = [row] if agg is None else list(range(agg.head, agg.last + 1))
            default, about = f"droidcap-frame{index.frames[row]}.json", None
        elif what == "conn":
            rows, default, about = list(index.rows_of(conn)), f"droidcap-conn{conn}.ndjson", conn
        else:
            rows, default, about = self.view.export_rows(), "droidcap-rows.ndjson", None

        def answer(value: str | None) -> None:
            if not value:
                return
            path = Path(value).expanduser()
            fmt = "ndjson" if path.suffix in (".ndjson", ".jsonl") else "json"
            try:
                path.write_text(index.export(rows, fmt, conn=about), encoding="utf-8")
            except OSError as err:
                self.notify(f"cannot write {path}: {err.strerror}", severity="error")
                return
            self.notify(f"wrote {len(rows)} row(s) to {path} ({fmt})", timeout=3)

        self.app.push_screen(PromptScreen(
            f"Export {len(rows)} row(s) to (.json: one document, .ndjson: a line each):", default), answer)

    # -- panes -----------------------------------------------------------------------------------

    def action_pane(self, name: str) -> None:
        switcher = self.query_one(ContentSwitcher)
        switcher.display = True
        switcher.current = {"details": "details-box"}.get(name, name)
        self._follow_panes(self.rows_list.row)

    def action_zoom(self) -> None:
        switcher = self.query_one(ContentSwitcher)
        switcher.display = not switcher.display

    def action_toggle_time(self) -> None:
        self.rows_list.absolute_time = not self.rows_list.absolute_time

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen(list(self.BINDINGS)))  # type: ignore[arg-type]
