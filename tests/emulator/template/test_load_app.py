"""The loader against the project's own template.yaml (the single source of truth)."""

from __future__ import annotations

import dataclasses
import re
import shutil
from pathlib import Path

import pytest

from emulator.template.errors import TemplateError
from emulator.template.load import load_template
from emulator.template.model import Template

REPO = Path(__file__).resolve().parents[3]
TEMPLATE = REPO / "template.yaml"
# The default stack name is the template directory's name, so a clone elsewhere differs.
STACK = REPO.name

HANDLERS = {
    "AuthorizerFunction": "handlers.authorizer.handle",
    "ConnectFunction": "handlers.connect.handle",
    "DisconnectFunction": "handlers.disconnect.handle",
    "DefaultFunction": "handlers.default.handle",
    "InviteFunction": "handlers.invite.handle",
    "ResponseFunction": "handlers.response.handle",
    "StopFunction": "handlers.stop.handle",
    "PingFunction": "handlers.ping.handle",
    "StateFunction": "handlers.state.handle",
    "TimersFunction": "handlers.timers.handle",
    "SessionsStreamFunction": "handlers.sessions_stream.handle",
    "OnlineFunction": "handlers.online.handle",
}
WS_ROUTES = {
    "$connect": "ConnectFunction",
    "$disconnect": "DisconnectFunction",
    "$default": "DefaultFunction",
    "invite": "InviteFunction",
    "response": "ResponseFunction",
    "stop": "StopFunction",
    "ping": "PingFunction",
    "state": "StateFunction",
}


@pytest.fixture(scope="module")
def app() -> Template:
    return load_template(TEMPLATE)


def test_twelve_functions_run_from_the_lambdas_directory(app: Template) -> None:
    """Every function gets its handler, Globals' runtime/timeout/memory and lambdas/ as root."""
    assert {k: f.handler for k, f in app.functions.items()} == HANDLERS
    for fn in app.functions.values():
        assert fn.code_root == REPO / "lambdas"
        assert fn.code_root.is_absolute()
        # The event-source consumers get 30 s: a redelivery must finish what a stalled post began.
        timeout = 30 if fn.logical_id in ("TimersFunction", "SessionsStreamFunction") else 10
        assert (fn.runtime, fn.timeout_s, fn.memory_mb) == ("python3.12", timeout, 256)
        assert re.fullmatch(rf"{re.escape(STACK)}-{fn.logical_id}-[A-Z0-9]{{12}}", fn.name)
        assert fn.arn == f"arn:aws:lambda:us-east-1:123456789012:function:{fn.name}"


def test_stack_name_defaults_to_the_template_directory(app: Template) -> None:
    """The stack is named after the directory holding template.yaml."""
    assert app.stack_name == STACK
    assert app.path == TEMPLATE
    assert (app.region, app.account_id) == ("us-east-1", "123456789012")


def test_websocket_routes_reach_their_functions(app: Template) -> None:
    """All eight WebSocket routes resolve Target -> integration -> function."""
    (ws,) = app.websocket_apis
    assert {key: route.function for key, route in ws.routes.items()} == WS_ROUTES
    assert not any(route.returns_response for route in ws.routes.values())
    assert ws.stage == "local"
    assert ws.route_selection_expression == "$request.body.action"
    assert re.fullmatch(r"[a-z0-9]{10}", ws.api_id)
    assert ws.name == f"{STACK}-ws"
    assert ws.domain_name("us-east-1") == f"{ws.api_id}.execute-api.us-east-1.amazonaws.com"


def test_connect_authorizer_reads_the_token_query_parameter(app: Template) -> None:
    """The $connect REQUEST authorizer runs AuthorizerFunction on ?token=."""
    authorizer = app.websocket_apis[0].authorizer
    assert authorizer is not None
    assert authorizer.logical_id == "ConnectAuthorizer"
    assert authorizer.function == "AuthorizerFunction"
    assert authorizer.identity_sources == ("route.request.querystring.token",)


def test_online_route_uses_the_cognito_jwt_authorizer(app: Template) -> None:
    """GET /online is guarded by a JWT authorizer for the pool and its client."""
    (http,) = app.http_apis
    pool = app.user_pools["UserPool"]
    client = app.user_pool_clients["UserPoolClient"]
    assert http.logical_id == "HttpApi"
    assert http.stage == "$default"
    (route,) = http.routes
    assert (route.method, route.path, route.function) == ("GET", "/online", "OnlineFunction")
    assert route.authorizer is not None
    assert route.authorizer.name == "CognitoJwt"
    assert route.authorizer.identity_source == "$request.header.Authorization"
    assert route.authorizer.issuer == f"https://cognito-idp.us-east-1.amazonaws.com/{pool.pool_id}"
    assert route.authorizer.audience == (client.client_id,)


def test_cognito_ids_have_aws_shapes(app: Template) -> None:
    """Pool ids are {region}_{9 alnum}, client ids 26 lowercase alnum."""
    pool = app.user_pools["UserPool"]
    client = app.user_pool_clients["UserPoolClient"]
    assert re.fullmatch(r"us-east-1_[A-Za-z0-9]{9}", pool.pool_id)
    assert pool.name == f"{STACK}-users"
    assert pool.arn == f"arn:aws:cognito-idp:us-east-1:123456789012:userpool/{pool.pool_id}"
    assert pool.properties["UsernameConfiguration"] == {"CaseSensitive": False}
    assert re.fullmatch(r"[a-z0-9]{26}", client.client_id)
    assert client.pool == "UserPool"
    assert client.name == f"{STACK}-client"
    assert client.generate_secret is False
    assert client.explicit_auth_flows == (
        "ALLOW_USER_PASSWORD_AUTH",
        "ALLOW_ADMIN_USER_PASSWORD_AUTH",
        "ALLOW_REFRESH_TOKEN_AUTH",
    )


def test_tables_keep_keys_indexes_ttl_and_stream(app: Template) -> None:
    """Connections and Sessions carry their key schema, GSIs, TTL and stream settings."""
    connections = app.tables["ConnectionsTable"]
    assert connections.name == f"{STACK}-connections"
    assert (connections.hash_key.name, connections.hash_key.type) == ("userId", "S")
    assert connections.range_key is not None
    assert connections.range_key.name == "connectionId"
    assert connections.ttl_attribute == "expireAt"
    assert connections.stream_view_type is None
    assert connections.stream_arn is None
    sessions = app.tables["SessionsTable"]
    assert sessions.hash_key.name == "sessionId"
    assert sessions.range_key is None
    assert [(i.name, i.hash_key.name) for i in sessions.global_indexes] == [
        ("byUserA", "userA"),
        ("byUserB", "userB"),
    ]
    assert sessions.global_indexes[0].projection == {"ProjectionType": "ALL"}
    assert sessions.local_indexes == ()
    assert sessions.ttl_attribute == "expireAt"
    assert sessions.stream_view_type == "NEW_AND_OLD_IMAGES"
    assert sessions.arn == f"arn:aws:dynamodb:us-east-1:123456789012:table/{STACK}-sessions"
    assert sessions.stream_arn == f"{sessions.arn}/stream/1970-01-01T00:00:00.000"


def test_timer_queue_redrives_to_its_dlq(app: Template) -> None:
    """TimerQueue sends to TimerDeadLetterQueue after five receives."""
    timers = app.queues["TimerQueue"]
    dlq = app.queues["TimerDeadLetterQueue"]
    assert timers.url == f"https://sqs.us-east-1.amazonaws.com/123456789012/{STACK}-timers"
    assert timers.arn == f"arn:aws:sqs:us-east-1:123456789012:{STACK}-timers"
    assert (timers.redrive_target, timers.max_receive_count) == ("TimerDeadLetterQueue", 5)
    assert (timers.visibility_timeout_s, timers.message_retention_s) == (60, 345600)
    assert (timers.delay_seconds, timers.fifo) == (0, False)
    assert (dlq.name, dlq.message_retention_s, dlq.visibility_timeout_s) == (
        f"{STACK}-timers-dlq",
        1209600,
        30,
    )
    assert dlq.redrive_target is None


def test_event_sources_feed_timers_and_stream_functions(app: Template) -> None:
    """The SQS and DynamoDB events become mappings with their batch settings."""
    sqs, stream = app.event_sources
    assert (sqs.logical_id, sqs.kind, sqs.source, sqs.function) == (
        "TimersFunctionTimers",
        "sqs",
        "TimerQueue",
        "TimersFunction",
    )
    assert (sqs.batch_size, sqs.enabled, sqs.report_batch_item_failures) == (10, True, True)
    assert sqs.filter_patterns == ()
    assert (stream.kind, stream.source, stream.function) == (
        "dynamodb",
        "SessionsTable",
        "SessionsStreamFunction",
    )
    assert (stream.batch_size, stream.starting_position, stream.maximum_retry_attempts) == (
        25,
        "LATEST",
        5,
    )
    assert stream.report_batch_item_failures is True
    ttl_removal, lost_timer = stream.filter_patterns
    assert '"eventName": ["REMOVE"]' in ttl_removal
    assert '"lostTimer"' in lost_timer


def test_environment_is_fully_resolved(app: Template) -> None:
    """Every function sees the same resolved Globals environment, numbers as strings."""
    ws = app.websocket_apis[0]
    expected = {
        "CONNECTIONS_TABLE": f"{STACK}-connections",
        "SESSIONS_TABLE": f"{STACK}-sessions",
        "TIMER_QUEUE_URL": app.queues["TimerQueue"].url,
        "WEBSOCKET_MANAGEMENT_URL": f"https://{ws.api_id}.execute-api.us-east-1.amazonaws.com/local",
        "USER_POOL_ID": app.user_pools["UserPool"].pool_id,
        "USER_POOL_CLIENT_ID": app.user_pool_clients["UserPoolClient"].client_id,
        "INVITE_TIMEOUT_SECONDS": "60",
        "DUEL_SECONDS": "600",
        "START_LEAD_SECONDS": "3",
        "CONNECTION_TTL_SECONDS": "3600",
    }
    for fn in app.functions.values():
        assert dict(fn.environment) == expected


def test_parameters_and_outputs_are_resolved(app: Template) -> None:
    """Parameter defaults are strings; outputs hold the resolved URLs and ids."""
    assert dict(app.parameters) == {
        "StageName": "local",
        "InviteTimeoutSeconds": "60",
        "DuelSeconds": "600",
        "StartLeadSeconds": "3",
        "ConnectionTtlSeconds": "3600",
    }
    ws, http = app.websocket_apis[0], app.http_apis[0]
    outputs = {k: o.value for k, o in app.outputs.items()}
    assert outputs["WebSocketUrl"] == f"wss://{ws.api_id}.execute-api.us-east-1.amazonaws.com/local"
    assert outputs["HttpUrl"] == f"https://{http.api_id}.execute-api.us-east-1.amazonaws.com"
    assert outputs["UserPoolClientId"] == app.user_pool_clients["UserPoolClient"].client_id
    assert outputs["Region"] == "us-east-1"
    assert app.outputs["WebSocketUrl"].description == "wss URL clients connect to with ?token="


def test_policies_are_parsed_with_resolved_arns(app: Template) -> None:
    """Inline policy statements are kept, with ARNs resolved, for reference."""
    (policy,) = app.functions["ConnectFunction"].policies
    assert policy["Kind"] == "inline"
    (statement,) = policy["Document"]["Statement"]  # type: ignore[index]
    assert statement["Resource"] == app.tables["ConnectionsTable"].arn
    assert statement["Action"] == ("dynamodb:PutItem",)


def test_permissions_and_deployment_are_ignored_with_reasons(app: Template) -> None:
    """The nine Lambda permissions, the deployment and two alarms are ignored, with why."""
    permission = "(AWS::Lambda::Permission): invoke permissions are not enforced locally"
    assert f"ConnectPermission {permission}" in app.ignored
    assert sum(entry.endswith(permission) for entry in app.ignored) == 9
    assert any(
        entry.startswith("WebSocketDeployment") and "(AWS::ApiGatewayV2::Deployment): " in entry
        for entry in app.ignored
    )
    assert sum("(AWS::CloudWatch::Alarm)" in entry for entry in app.ignored) == 2
    assert len(app.ignored) == 12


def test_overrides_reach_the_environment_and_stage() -> None:
    """DuelSeconds=5 and StageName=prod show up in env, stage and management URL."""
    app = load_template(TEMPLATE, {"DuelSeconds": "5", "StageName": "prod"})
    ws = app.websocket_apis[0]
    assert ws.stage == "prod"
    for fn in app.functions.values():
        assert fn.environment["DUEL_SECONDS"] == "5"
        assert fn.environment["WEBSOCKET_MANAGEMENT_URL"].endswith("/prod")
    assert app.parameters["DuelSeconds"] == "5"


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"DuelSeconds": "abc"}, "Parameter DuelSeconds (Number): value 'abc' is not a number"),
        ({"InviteTimeoutSeconds": "901"}, "is above MaxValue 900"),
        ({"ConnectionTtlSeconds": "9"}, "is below MinValue 10"),
        ({"StageName": "no spaces"}, "does not match AllowedPattern"),
        ({"DuelSecs": "5"}, "Parameter override DuelSecs: the template declares no such parameter"),
    ],
)
def test_bad_overrides_are_refused(overrides: dict[str, str], fragment: str) -> None:
    """Values CloudFormation would refuse fail the load with the constraint named."""
    with pytest.raises(TemplateError, match=re.escape(fragment)):
        load_template(TEMPLATE, overrides)


def test_ids_are_deterministic_per_stack_name() -> None:
    """The same stack name gives the same ids; another stack name gives others."""
    first = load_template(TEMPLATE, stack_name="duel")
    again = load_template(TEMPLATE, stack_name="duel")
    other = load_template(TEMPLATE, stack_name="other")
    assert first.websocket_apis == again.websocket_apis
    assert first.functions == again.functions
    assert first.user_pools["UserPool"].pool_id == again.user_pools["UserPool"].pool_id
    assert first.websocket_apis[0].api_id != other.websocket_apis[0].api_id
    assert first.user_pools["UserPool"].pool_id != other.user_pools["UserPool"].pool_id
    assert first.functions["InviteFunction"].name.startswith("duel-InviteFunction-")


def test_region_and_account_flow_into_arns() -> None:
    """Region and account arguments change ARNs, URLs and the issuer."""
    app = load_template(TEMPLATE, region="eu-west-1", account_id="000000000000")
    assert app.queues["TimerQueue"].url.startswith(
        "https://sqs.eu-west-1.amazonaws.com/000000000000/"
    )
    assert app.user_pools["UserPool"].pool_id.startswith("eu-west-1_")
    jwt = app.http_apis[0].routes[0].authorizer
    assert jwt is not None
    assert jwt.issuer.startswith("https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_")


def test_model_is_frozen(app: Template) -> None:
    """Nothing in the model can be changed in place."""
    with pytest.raises(TypeError):
        app.functions["X"] = app.functions["InviteFunction"]  # type: ignore[index]
    with pytest.raises(TypeError):
        app.functions["InviteFunction"].environment["X"] = "1"  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        app.functions["InviteFunction"].timeout_s = 1  # type: ignore[misc]
    with pytest.raises(TypeError):
        app.user_pools["UserPool"].properties["Policies"]["X"] = 1  # type: ignore[index]
    assert isinstance(app.websocket_apis, tuple)


def test_copied_app_gets_a_sanitized_stack_name(tmp_path: Path) -> None:
    """A directory named "my_app 2" becomes stack "my-app-2"; code_root follows the copy."""
    app_dir = tmp_path / "my_app 2"
    app_dir.mkdir()
    shutil.copy(TEMPLATE, app_dir / "template.yml")
    (app_dir / "lambdas").mkdir()
    app = load_template(app_dir)
    assert app.stack_name == "my-app-2"
    assert app.path == app_dir / "template.yml"
    assert app.functions["PingFunction"].code_root == app_dir / "lambdas"
    assert app.tables["SessionsTable"].name == "my-app-2-sessions"
