"""The help screen, built from the bindings in force: it cannot drift from what the keys do."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static


def key_table(bindings: list[Binding]) -> str:
    """One line per action: its keys and what it does."""
    rows: dict[str, list[str]] = {}
    for b in bindings:
        if not b.description:
            continue
        keys = [b.key_display or k for k in b.key.split(",")]
        rows.setdefault(b.description, []).extend(k.strip() for k in keys)
    width = max((len(", ".join(v)) for v in rows.values()), default=0)
    return "\n".join(f"  {', '.join(keys):<{width}}  {desc}" for desc, keys in rows.items())


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q,question_mark", "dismiss", "Close help")]

    def __init__(self, bindings: list[Binding]) -> None:
        super().__init__()
        self._text = key_table(bindings)

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box"):
            yield Static("droidcap inspect — keys (Esc or ? closes)\n", id="help-title")
            yield Static(self._text, id="help-keys")
            yield Static(
                "\nMarks in the Messages pane: ! problem (gap, skipped bytes, oversize, malformed), "
                "? uncertain (inferred mid-connection), * bookmark.  Click a row, a connection or a "
                "timeline column to go there.", id="help-marks")
