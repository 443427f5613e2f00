"""The Connections pane: one line per RTMP connection, its role, app/stream, outcome, problems."""

from __future__ import annotations

from textual.widgets import DataTable

from droidcap.session import endpoint_text
from droidcap.tui.model import CaptureIndex, outcome_text, problem_text

# the endpoints last: at 80 columns the table is cut on the right, and the problems matter more
COLUMNS = ("#", "role", "app/stream", "outcome", "msgs", "problems", "client → server")


class ConnectionsPane(DataTable[str]):
    """Rebuilt when the index has new summaries (there are few connections; rows are cheap)."""

    def __init__(self, index: CaptureIndex, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=False)
        self.index = index
        self._shown: list[tuple[object, ...]] = []

    def on_mount(self) -> None:
        self.add_columns(*COLUMNS)

    def refresh_rows(self) -> None:
        index = self.index
        rows: list[tuple[object, ...]] = []
        for c in index.connections:
            s = index.summary(c.conn)
            if s is None:
                rows.append((str(c.conn), "…", "", "", "", "",
                             f"{endpoint_text(c.client)} → {endpoint_text(c.server)}"))
                continue
            stream = next((st.name for st in s.streams if st.name), None)
            app = s.connect.get("app")
            msgs = sum(sum(d.values()) for d in s.counts.values())
            problems = problem_text(index, c.conn)
            if s.mid_connection:
                problems = ("mid-connection; " + problems).rstrip("; ")
            rows.append((str(c.conn), s.role, f"{app or '?'}/{stream or '?'}", outcome_text(s),
                         str(msgs), ("! " + problems) if problems else "", f"{s.client} → {s.server}"))
        if rows == self._shown:
            return
        cursor = self.cursor_row
        # columns too, sized here: auto widths only ever grow, so they would depend on which
        # partial states of the index happened to be drawn
        self.clear(columns=True)
        for i, name in enumerate(COLUMNS):
            self.add_column(name, width=max([len(name), *(len(str(r[i])) for r in rows)]))
        for r in rows:
            self.add_row(*(str(v) for v in r))
        self._shown = rows
        if rows:
            self.move_cursor(row=min(cursor, len(rows) - 1), animate=False)
