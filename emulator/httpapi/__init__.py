"""HTTP API (API Gateway v2) emulation: routes, JWT authorizers, payload format 2.0."""
