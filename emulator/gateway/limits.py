"""API Gateway WebSocket limits the gateway enforces (docs/aws-behaviour.md §4-§6)."""

from __future__ import annotations

# AWS: frame 32 KB, message (fragments reassembled) 128 KB, both closed with 1009;
# binary frames from the client are unsupported and closed with 1003 (docs/aws-behaviour.md §6).
MAX_FRAME_BYTES = 32 * 1024
MAX_MESSAGE_BYTES = 128 * 1024
# AWS: @connections PostToConnection Data > 131072 bytes -> 413 (docs/aws-behaviour.md §5).
MAX_POST_BYTES = 131072
# AWS: integration timeout 50 ms - 29 s (docs/aws-behaviour.md §6).
MAX_INTEGRATION_TIMEOUT_S = 29.0
# AWS: idle 10 min, connection duration 2 h (docs/aws-behaviour.md §6).
IDLE_TIMEOUT_S = 600.0
MAX_DURATION_S = 7200.0
# AWS: authorizer result <= 8 KB (docs/aws-behaviour.md §4).
MAX_AUTHORIZER_RESULT_BYTES = 8 * 1024
