"""Tests through the real daemon, its socket and the `aionis` CLI."""
