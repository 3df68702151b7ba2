"""Tests of the Textual TUI: Pilot, SVG snapshots, and a real terminal under tmux."""
