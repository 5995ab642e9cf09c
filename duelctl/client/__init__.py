"""Protocol clients shared by simulate, run, connect, online and bench.

- `auth`: fresh Cognito tokens for a target (creating local users on first use),
- `ws`: one WebSocket connection with an inbox of received frames and awaitable
  expectations,
- `http`: `GET /online`.
"""
