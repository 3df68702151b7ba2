"""What the tests share: trace writers, RPC helpers, stand-in servers, TUI fixtures."""
