"""Subcommands that arrive with later features register here."""

from __future__ import annotations

from typing import Any


def register(add: Any, common: Any) -> None:
    return None
