"""One module per CLI command; `duelctl.cli` registers them and owns error handling."""
