"""The duel domain: pure rules, no AWS, no logging, no clock (style.md §6)."""
