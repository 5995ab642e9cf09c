"""Errors of the @connections management API, each carrying AWS's status and error type.

botocore (rest-json) takes the error code from the `x-amzn-ErrorType` header, so a 410
without it surfaces as ClientError "410" and `except client.exceptions.GoneException`
misses it (docs/aws-behaviour.md §5). The HTTP layer maps these in one place: `to_response`.
"""

from __future__ import annotations

import json
from typing import ClassVar


class ManagementError(Exception):
    status: ClassVar[int] = 400
    error_type: ClassVar[str] = "BadRequestException"

    def headers(self) -> dict[str, str]:
        return {"x-amzn-ErrorType": self.error_type, "Content-Type": "application/json"}

    def body(self) -> bytes:
        message = str(self) or None
        return json.dumps({"message": message}).encode()


class BadRequest(ManagementError):
    status, error_type = 400, "BadRequestException"


class Forbidden(ManagementError):
    status, error_type = 403, "ForbiddenException"


class Gone(ManagementError):
    """Unknown, closed or still-connecting connection (AWS: 410 on every operation)."""

    status, error_type = 410, "GoneException"


class PayloadTooLarge(ManagementError):
    status, error_type = 413, "PayloadTooLargeException"
