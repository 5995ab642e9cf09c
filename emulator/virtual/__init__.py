"""Virtual time for a local stack (`--clock virtual`): see stack.py, and README "Virtual time"."""
