"""A one-line prompt (search, go to frame, go to time, export path): Enter answers, Esc cancels."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static


class PromptScreen(ModalScreen[str | None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, question: str, value: str = "", *,
                 on_change: Callable[[str], None] | None = None) -> None:
        super().__init__()
        self.question = question
        self.value = value
        self.on_change = on_change  # called on every edit (incremental search)

    def compose(self) -> ComposeResult:
        with Vertical(id="prompt-box"):
            yield Static(self.question, id="prompt-question")
            yield Input(value=self.value, id="prompt-input")

    def on_input_changed(self, event: Input.Changed) -> None:
        if self.on_change is not None:
            self.on_change(event.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)
