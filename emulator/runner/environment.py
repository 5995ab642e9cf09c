"""The process environment of a function's workers: the template's variables plus AWS's own.

AWS: every execution environment gets the reserved variables below (docs/aws-behaviour.md §13);
`AWS_LAMBDA_FUNCTION_TIMEOUT` is deliberately absent because real Lambda does not set it.
The emulator's own process environment is not inherited beyond what an interpreter needs
to start, so a handler cannot depend on something only the developer's shell has.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Mapping
from pathlib import Path

from emulator.clock import SYSTEM_CLOCK
from emulator.template.model import Function

# What the child interpreter may need from the parent to start at all (no PYTHON*).
INHERITED = ("PATH", "HOME", "TMPDIR", "TEMP", "TMP", "SYSTEMROOT", "LD_LIBRARY_PATH")
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}
RUNTIME_DIR = str(Path(__file__).resolve().parent)  # where bootstrap.py lives


def base_environment() -> dict[str, str]:
    """What every worker's environment has regardless of its function: the fork server's.

    The fork server (forkserver.py) starts with this, so whatever its pre-imports read
    at import time (TZ, LANG, the AWS config file locations) matches what a fresh worker
    would have seen; each fork then gets its function's full environment.
    """
    env = {key: os.environ[key] for key in INHERITED if key in os.environ}
    env.setdefault("PATH", os.defpath)
    env.update(
        {
            "TZ": ":UTC",
            "LANG": "en_US.UTF-8",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        }
    )
    return env


def log_stream_name(now: float) -> str:
    """`YYYY/MM/DD/[$LATEST]<32 hex>`: one stream per environment (docs/aws-behaviour.md §13)."""
    return time.strftime("%Y/%m/%d", time.gmtime(now)) + "/[$LATEST]" + secrets.token_hex(16)


def function_environment(
    fn: Function,
    *,
    region: str,
    account_id: str,
    extra_env: Mapping[str, str] = {},
    now: float | None = None,
) -> dict[str, str]:
    """The complete environment for one new worker of `fn`.

    Order, later wins: interpreter basics, the template's variables, AWS's reserved
    variables (a deployed template cannot override those), then `extra_env`, the
    emulator's endpoints (AWS_ENDPOINT_URL, HTTPS_PROXY, AWS_CA_BUNDLE, ...). `now` dates
    the log stream name; `account_id` is already part of `fn.arn`, kept for callers that
    pass the full identity.
    """
    env = {key: os.environ[key] for key in INHERITED if key in os.environ}
    env.setdefault("PATH", os.defpath)
    env.update(fn.environment)
    stream = log_stream_name(SYSTEM_CLOCK.now() if now is None else now)
    env.update(
        {
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            "AWS_LAMBDA_FUNCTION_NAME": fn.name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(fn.memory_mb),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{fn.name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": stream,
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{fn.runtime}",
            "_HANDLER": fn.handler,
            "LAMBDA_TASK_ROOT": str(fn.code_root),
            "LAMBDA_RUNTIME_DIR": RUNTIME_DIR,
            "TZ": ":UTC",
            "LANG": "en_US.UTF-8",
            # Lambda has no shared config files; the developer's ~/.aws/config (profiles,
            # endpoint_url, region) must not change what a handler's boto3 does.
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            **FAKE_CREDENTIALS,
        }
    )
    if fn.layers:
        # AWS: layers' python/ directories follow the function's code on the import path
        # (/opt/python); a fresh interpreter puts PYTHONPATH right after it.
        env["PYTHONPATH"] = os.pathsep.join(str(path) for path in fn.layers)
    env.update(extra_env)
    return env
