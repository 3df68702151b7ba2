"""aionis TUI: a Textual client of the aionisd socket API."""
