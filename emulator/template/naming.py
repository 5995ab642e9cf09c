"""Deterministic physical names and ids, shaped like the ones AWS assigns.

CloudFormation names an unnamed resource `{stack}-{LogicalId}-{SUFFIX}` and services pick
random ids (API Gateway: 10 lowercase alphanumerics; Cognito: `{region}_{9}` pool ids and
26-character client ids). The emulator derives the random parts from a hash of
(stack name, logical id) instead, so the same template and stack name always give the
same names: a restart or hot reload finds its tables, queues and pools again.
"""

from __future__ import annotations

import hashlib
import re
import string

LOWER_ALNUM = string.ascii_lowercase + string.digits
UPPER_ALNUM = string.ascii_uppercase + string.digits
MIXED_ALNUM = string.ascii_letters + string.digits

# AWS: stack names match [a-zA-Z][-a-zA-Z0-9]* and are at most 128 characters
# (CloudFormation API reference, CreateStack).
STACK_NAME_RE = re.compile(r"[A-Za-z][-A-Za-z0-9]{0,127}")
DEFAULT_STACK_NAME = "app"


def sanitize_stack_name(raw: str) -> str:
    """Turn a directory name into a valid stack name ("my_app 2" -> "my-app-2")."""
    cleaned = re.sub(r"[^A-Za-z0-9-]+", "-", raw)
    cleaned = re.sub(r"^[^A-Za-z]+", "", cleaned)
    cleaned = re.sub(r"-{2,}", "-", cleaned).rstrip("-")[:128].rstrip("-")
    return cleaned or DEFAULT_STACK_NAME


def token(stack: str, logical_id: str, length: int, alphabet: str, purpose: str = "") -> str:
    """`length` characters of `alphabet`, fixed by (stack, logical id, purpose)."""
    digest = hashlib.sha256(f"{purpose}\0{stack}\0{logical_id}".encode()).digest()
    while len(digest) < length:
        digest += hashlib.sha256(digest).digest()
    return "".join(alphabet[b % len(alphabet)] for b in digest[:length])


def generated_name(
    stack: str, logical_id: str, *, max_length: int, suffix: str = "", lower: bool = False
) -> str:
    """CloudFormation's name for an unnamed resource: `{stack}-{LogicalId}-{12 alnum}`.

    The `{stack}-{LogicalId}` part is cut so the whole name, with `suffix` (".fifo"),
    fits `max_length` (64 for Lambda and IAM, 80 for SQS, 255 for DynamoDB).
    """
    alphabet = LOWER_ALNUM if lower else UPPER_ALNUM
    tail = "-" + token(stack, logical_id, 12, alphabet, "name") + suffix
    head = f"{stack}-{logical_id}"
    if lower:
        head = head.lower()
    return head[: max_length - len(tail)].rstrip("-") + tail


def lower_id(stack: str, logical_id: str, length: int) -> str:
    """An API Gateway style id: `length` lowercase alphanumerics."""
    return token(stack, logical_id, length, LOWER_ALNUM, "id")


def user_pool_id(stack: str, logical_id: str, region: str) -> str:
    """A Cognito user pool id, `{region}_{9 alphanumerics}` as Cognito assigns."""
    return f"{region}_{token(stack, logical_id, 9, MIXED_ALNUM, 'pool')}"


def uuid_like(stack: str, logical_id: str, purpose: str) -> str:
    """A stable UUID-shaped id (event source mappings, stack ids)."""
    h = hashlib.sha256(f"{purpose}\0{stack}\0{logical_id}".encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:32]}"
