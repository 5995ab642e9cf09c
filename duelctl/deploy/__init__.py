"""Deploying the duel backend to AWS with boto3 alone: `duelctl deploy` / `duelctl destroy`.

- `package`: the reproducible code zip and the vendored runtime dependencies.
- `template`: template.yaml with CodeUri in S3 and parameters checked.
- `artifacts`: the artifact bucket and content-addressed uploads.
- `stack`: CloudFormation change sets, the event feed, outputs.
- `expand`: the SAM transform run locally, for endpoints without it (moto).
- `view`: what the user sees; `flow`: the steps in order.
"""

from duelctl.deploy.flow import (
    DeployOptions,
    DeployResult,
    DestroyOptions,
    run_deploy,
    run_destroy,
)

__all__ = ["DeployOptions", "DeployResult", "DestroyOptions", "run_deploy", "run_destroy"]
