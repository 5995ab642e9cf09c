"""The one exception the template loader raises.

Every message names what is wrong and where, in CloudFormation's own terms
("ConnectRoute (AWS::ApiGatewayV2::Route): ...; ..."), followed by what to do, so the
CLI can print it as one line without a traceback (style guide §8).
"""

from __future__ import annotations


class TemplateError(Exception):
    """The template cannot be run locally as written; the message says why and what to do."""
