"""One module per CLI command, each with `register(app)`; duelctl/cli.py assembles them and
duelctl/app.py owns the app and its error boundary."""
