"""Deploy failures, each a one-line message on an existing duelctl exit code (errors.py).

They subclass the CLI's own error classes, so `guard` renders them like every other
expected failure: one `error:` line on stderr and the class's exit code, no traceback.
"""

from __future__ import annotations

from duelctl.errors import (
    AuthRejected,
    DuelctlError,
    TargetUnreachable,
    TemplateInvalid,
    UsageError,
)


class DeployError(DuelctlError):
    """A deploy or destroy that did not reach its goal (exit 1)."""


class CredentialsError(AuthRejected):
    """No AWS credentials, or AWS refused them (exit 4)."""


class BucketError(UsageError):
    """The artifact bucket is missing, foreign or in another region (exit 2)."""


class DeployTemplateError(TemplateInvalid):
    """The template, its parameters or the SAM transform were refused (exit 2)."""


class StackBusy(DeployError):
    """Another operation on the stack is still running; CloudFormation refuses a second one."""


class DeployFailed(DeployError):
    """CloudFormation rolled the stack back (or could not); the message names the first cause."""


class DependencyError(DeployError):
    """The function's runtime dependencies could not be vendored (pip failed)."""


class StackNotFound(TargetUnreachable):
    """No stack for the stage in this account and region (exit 3)."""


class EndpointUnreachable(TargetUnreachable):
    """The AWS API endpoint did not answer (exit 3)."""
