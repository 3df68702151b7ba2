"""aionisd: the daemon and everything that is not UI."""

__version__ = "0.1.0"
