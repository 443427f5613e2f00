"""The screen for a capture that cannot be inspected: what is wrong and what to do; q quits (non-zero)."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Center, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Static


class BadInputScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("q,escape,enter", "app.quit", "Quit")]

    def __init__(self, label: str, message: str) -> None:
        super().__init__()
        self.label = label
        self.message = message

    def compose(self) -> ComposeResult:
        with Center(), Vertical(id="bad-input"):
            yield Static("droidcap inspect cannot show this capture", id="bad-title")
            yield Static(f"{self.label}\n\n{self.message}", id="bad-message")
            yield Static("Press q to quit.", id="bad-hint")
        yield Footer()
