"""Lambda entry points named by template.yaml (`handlers.<name>.handle`)."""
