"""REQUEST authorizer keyed on the X-Newsroom-Key header.

`editor-<name>` may publish; `intern-<name>` may read stories but not publish;
`revoked` is denied outright; anything else is turned away as Unauthorized.
"""


def handler(event, context):
    headers = {name.lower(): value for name, value in event["headers"].items()}
    key = headers.get("x-newsroom-key", "")
    base = event["methodArn"].split("/", 2)
    api = "/".join(base[:2])  # arn:...:{apiId}/{stage}
    if key.startswith("editor-"):
        return _policy(key, "Allow", f"{api}/*", key.removeprefix("editor-"))
    if key.startswith("intern-"):
        return _policy(key, "Allow", f"{api}/GET/stories/*", key.removeprefix("intern-"))
    if key == "revoked":
        return _policy(key, "Deny", f"{api}/*", "nobody")
    raise Exception("Unauthorized")


def _policy(principal, effect, resource, editor):
    return {
        "principalId": principal,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}],
        },
        "context": {"editor": editor},
    }
