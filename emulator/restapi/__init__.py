"""REST APIs (v1) served locally: Lambda proxy integration with payload format 1.0.

`api.RestApiHandler` serves one template `RestApi` (routing, authorizers, invoke,
response); `event`, `authorizer` and `response` are its pure parts. Mounted on the
stack's HTTP origin by `emulator.http_server.HttpServer` under `/{stage}/...`.
"""
