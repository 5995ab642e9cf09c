"""Scenario files: a readable script of users, actions and expectations (see format.md).

`parse` turns YAML into a validated `Scenario` (errors carry file:line), `engine`
plays one against a stack over real WebSockets, `render` shows the timeline, `junit`
writes the CI report. `duelctl simulate` runs built-in scenarios through the same
engine (`builtin`).
"""
