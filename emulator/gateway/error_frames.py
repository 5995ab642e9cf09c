"""The error frames API Gateway itself sends on an open connection (docs/aws-behaviour.md §2)."""

from __future__ import annotations


def _error_frame(message: str, connection_id: str, request_id: str) -> str:
    # AWS's exact spacing: a space after the first colon only (docs/aws-behaviour.md §2, observed).
    return (
        f'{{"message": "{message}", "connectionId":"{connection_id}", "requestId":"{request_id}"}}'
    )


def forbidden_frame(connection_id: str, request_id: str) -> str:
    """The frame AWS sends when no route (and no `$default`) matches (docs/aws-behaviour.md §2)."""
    return _error_frame("Forbidden", connection_id, request_id)


def internal_error_frame(connection_id: str, request_id: str) -> str:
    """The frame AWS sends when the integration fails (docs/aws-behaviour.md §2)."""
    return _error_frame("Internal server error", connection_id, request_id)
