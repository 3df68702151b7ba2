"""Modal questions: a yes/no confirmation and a note to go with a decision."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static


class ConfirmModal(ModalScreen[bool]):
    """Ask before anything that runs commands or changes a playbook."""

    BINDINGS = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n,escape", "answer(False)", "No"),
    ]

    def __init__(self, title: str, body: Text | str, yes: str = "Yes") -> None:
        super().__init__()
        self.title_text = title
        self.body = body if isinstance(body, Text) else Text(body)
        self.yes = yes

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(Text(self.title_text, style="bold"), classes="dialog-title")
            yield Static(self.body, classes="dialog-body")
            with Horizontal(classes="dialog-buttons"):
                yield Button(f"{self.yes} [y]", variant="primary", id="yes")
                yield Button("Cancel [n]", id="no")

    def on_mount(self) -> None:
        self.query_one("#yes", Button).focus()

    def action_answer(self, value: bool) -> None:
        self.dismiss(value)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "yes")


class NoteModal(ModalScreen[str | None]):
    """A one-line note; `required` refuses an empty one (a rejection must say why)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, prompt: str, *, required: bool = False) -> None:
        super().__init__()
        self.title_text = title
        self.prompt = prompt
        self.required = required

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(Text(self.title_text, style="bold"), classes="dialog-title")
            yield Static(Text(self.prompt), classes="dialog-body")
            yield Input(placeholder="note (enter to submit, esc to cancel)", id="note")
            yield Static("", id="note-error", classes="error")

    def on_mount(self) -> None:
        self.query_one("#note", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        note = event.value.strip()
        if self.required and not note:
            self.query_one("#note-error", Static).update(Text("a note is required", style="red"))
            return
        self.dismiss(note)

    def action_cancel(self) -> None:
        self.dismiss(None)
