"""The SAM transform run here, for CloudFormation endpoints that lack it (moto server).

AWS runs `AWS::Serverless-2016-10-31` itself, and `duelctl deploy` sends the template
with the transform for it to do so. moto's CloudFormation implements neither macros nor
the SAM transform, so `--expand-locally` expands the template with aws-sam-translator
(the library behind the hosted transform) and sends plain CloudFormation instead.
aws-sam-translator is a test extra, not a runtime dependency: it is imported only here.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from duelctl.deploy.aws import Aws, aws_errors
from duelctl.deploy.errors import DeployTemplateError
from duelctl.errors import UsageError


def expand_sam(document: dict[str, Any], parameters: Mapping[str, str], aws: Aws) -> dict[str, Any]:
    """The template with the SAM transform applied, as AWS would before creating resources.

    Managed policy names in `Policies` resolve through IAM ListPolicies on the same
    endpoint, as the hosted transform resolves them.
    """
    try:
        from samtranslator.metrics.metrics import Metrics
        from samtranslator.model.exceptions import InvalidDocumentException
        from samtranslator.parser.parser import Parser
        from samtranslator.translator.managed_policy_translator import ManagedPolicyLoader
        from samtranslator.translator.translator import Translator
        from samtranslator.utils.py27hash_fix import (
            to_py27_compatible_template,
            undo_mark_unicode_str_in_template,
        )
    except ImportError:
        raise UsageError(
            "--expand-locally needs aws-sam-translator (pip install aws-sam-translator)"
        ) from None

    loader = ManagedPolicyLoader(aws.client("iam"))
    # The session's region is the deploy region (open_session); the translator reads it.
    # Its metrics go nowhere (a dummy publisher), but unpublished ones log a warning.
    metrics = Metrics()
    translator = Translator(None, Parser(), boto_session=aws.session, metrics=metrics)
    template = copy.deepcopy(document)
    values: dict[str, Any] = dict(parameters)
    # The same preparation samtranslator.translator.transform.transform does.
    to_py27_compatible_template(template, values)
    try:
        with aws_errors("expanding the SAM transform (iam:ListPolicies)"):
            expanded = translator.translate(
                template, parameter_values=values, get_managed_policy_map=loader.load
            )
    except InvalidDocumentException as exc:
        causes = "; ".join(cause.message for cause in exc.causes) or exc.message
        raise DeployTemplateError(f"SAM transform failed: {causes}") from None
    finally:
        metrics.publish()
    return dict(undo_mark_unicode_str_in_template(expanded))
