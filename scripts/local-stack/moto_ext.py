"""Patches for moto 5.2.5 that make its IAM, STS and S3 emulation behave like AWS where the
project's tests depend on it.

``apply()`` installs the patches into moto's classes in this interpreter, and
``RegionRedirectMiddleware`` wraps moto's WSGI application. The launcher ``moto_server.py``
does both before it serves. The patches only change what happens while moto's IAM checks are
on (``POST /moto-api/reset-auth`` with body ``0``), except for the S3 responses of the
middleware (wrong region, HeadBucket, expected bucket owner), which apply at all times.

What each patch closes, and what AWS does instead:

* ``check_action_permitted``: moto evaluates a role's trust policy only when the role is in the
  caller's own account, so any External ID passes across accounts, and a role that does not
  exist can be assumed. AWS evaluates the trust policy on every AssumeRole and returns
  AccessDenied for a role that does not exist. Across accounts AWS also requires an identity
  policy that allows the request, plus the bucket policy for S3.
* ``IAMPolicyStatement.is_action_permitted``: moto ignores Condition blocks in identity
  policies, passes ``StringEquals sts:ExternalId`` when the request has no External ID, and
  turns an Allow statement whose condition fails into an explicit deny. AWS skips a statement
  whose condition fails, and a positive condition on a key that the request does not carry fails.
* ``ACTION_MAP``: moto authorizes HeadBucket as ``s3:HeadBucket``, an action that does not
  exist in IAM. AWS authorizes it as ``s3:ListBucket``.
* ``IAMRequest._raise_*``: moto's STS and IAM auth errors use ``<ErrorResponse><Errors><Error>``,
  which the AWS SDK for Rust does not parse, so ``code()`` is None. AWS query services return
  ``<ErrorResponse><Error><Type>Sender</Type><Code>..</Code><Message>..</Message></Error>
  <RequestId>..</RequestId></ErrorResponse>``, and JSON services such as EventBridge return
  ``{"__type": "AccessDeniedException", "message": ".."}``.
* ``RegionRedirectMiddleware``: moto serves S3 requests for any client region. AWS rejects a
  client whose SigV4 scope names another region than the bucket's with 301 (HeadBucket,
  HeadObject, PermanentRedirect) or 400 (AuthorizationHeaderMalformed).
* ``RegionRedirectMiddleware``, HeadBucket: with IAM checks on, moto denies HeadBucket of a
  bucket that does not exist (403), and its denial of an existing bucket has no
  ``x-amz-bucket-region`` header. AWS returns 404 for a missing bucket to any caller, and names
  the bucket's region in the header of a 403 as well.
* ``RegionRedirectMiddleware``, expected bucket owner: moto ignores the
  ``x-amz-expected-bucket-owner`` header. AWS rejects a request whose header names another
  account than the bucket's owner with 403 AccessDenied.

NOTE: Still unlike AWS: session policies and session tags of AssumeRole are ignored, policy
variables such as ``${aws:username}`` are not substituted, condition operators other than
the String, Arn, Bool and Null families (with IfExists) make a statement fail closed, and
expiry of temporary credentials is not enforced.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Iterable
from xml.sax.saxutils import escape

import moto
from moto.core.utils import get_service_model
from moto.iam.access_control import (
    IAMPolicy,
    IAMPolicyStatement,
    IAMRequest,
    IAMRequestBase,
    PermissionResult,
    S3IAMRequest,
)
from moto.iam.exceptions import NotFoundException
from moto.iam.models import iam_backends
from moto.s3 import responses as s3_responses
from moto.s3.models import s3_backends
from werkzeug.exceptions import HTTPException

SUPPORTED_MOTO_VERSION = "5.2.5"

log = logging.getLogger("moto_ext")

# Kinds of Principal match. AWS treats the two differently within one account: a resource
# policy that names the caller itself grants access on its own, while one that names the
# caller's account (or everyone) needs an identity policy as well.
PRINCIPAL_NAMED = "named"
PRINCIPAL_BROAD = "broad"

ROLE_ARN_PATTERN = re.compile(r"^arn:(aws[a-z-]*):iam::(\d{12}):role/(.+)$")


class UnsupportedConditionError(Exception):
    """A policy uses a condition operator that this module does not evaluate."""


@dataclass(frozen=True)
class Caller:
    """The identity that signed a request."""

    arn: str
    """The user ARN, or the assumed-role session ARN ``arn:aws:sts::<account>:assumed-role/..``."""
    account_id: str
    principal_arn: str
    """The value of ``aws:PrincipalArn``: the user ARN, or the role ARN for a role session."""


def caller_from_arn(arn: str) -> Caller:
    """Build a Caller from the ARN that moto reports for an access key."""
    _, partition, service, _, account_id, resource = arn.split(":", 5)
    principal_arn = arn
    if service == "sts" and resource.startswith("assumed-role/"):
        role_name = resource.split("/")[1]
        try:
            principal_arn = iam_backends[account_id][partition].get_role(role_name).arn
        except NotFoundException:
            principal_arn = f"arn:{partition}:iam::{account_id}:role/{role_name}"
    return Caller(arn=arn, account_id=account_id, principal_arn=principal_arn)


# --- Policy evaluation -------------------------------------------------------------------------


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _matches_wildcard(pattern: str, value: str, ignore_case: bool = False) -> bool:
    """Match IAM wildcards: ``*`` is any run of characters and ``?`` is any one character."""
    parts = []
    for char in pattern:
        if char == "*":
            parts.append(".*")
        elif char == "?":
            parts.append(".")
        else:
            parts.append(re.escape(char))
    regex = "".join(parts)
    flags = re.IGNORECASE if ignore_case else 0
    return re.fullmatch(regex, value, flags) is not None


def _element_matches(
    statement: dict[str, Any],
    element: str,
    not_element: str,
    value: str,
    ignore_case: bool,
) -> bool:
    if element in statement:
        patterns = _as_list(statement[element])
        return any(_matches_wildcard(p, value, ignore_case) for p in patterns)
    patterns = _as_list(statement[not_element])
    return not any(_matches_wildcard(p, value, ignore_case) for p in patterns)


def _principal_match(principal: Any, caller: Caller) -> str | None:
    """Return how a Principal element matches the caller, or None when it does not.

    Only ``"*"`` and the ``AWS`` key are evaluated. ``Service`` and ``Federated`` principals
    never match a caller that signs with IAM credentials.
    """
    if principal == "*":
        return PRINCIPAL_BROAD
    if not isinstance(principal, dict):
        return None
    partition = caller.arn.split(":", 2)[1]
    account_root = f"arn:{partition}:iam::{caller.account_id}:root"
    match = None
    for value in _as_list(principal.get("AWS", [])):
        if value in (caller.arn, caller.principal_arn):
            return PRINCIPAL_NAMED
        if value in ("*", caller.account_id, account_root):
            match = PRINCIPAL_BROAD
    return match


def _string_equals(expected: str, actual: str) -> bool:
    return expected == actual


def _string_equals_ignore_case(expected: str, actual: str) -> bool:
    return expected.lower() == actual.lower()


def _string_like(expected: str, actual: str) -> bool:
    return _matches_wildcard(expected, actual)


# Condition operator -> (test of one expected value against one request value, negated).
# ArnEquals and ArnLike both accept wildcards in AWS, so both use the wildcard test.
_CONDITION_OPERATORS: dict[str, tuple[Callable[[str, str], bool], bool]] = {
    "StringEquals": (_string_equals, False),
    "StringNotEquals": (_string_equals, True),
    "StringEqualsIgnoreCase": (_string_equals_ignore_case, False),
    "StringNotEqualsIgnoreCase": (_string_equals_ignore_case, True),
    "StringLike": (_string_like, False),
    "StringNotLike": (_string_like, True),
    "ArnEquals": (_string_like, False),
    "ArnLike": (_string_like, False),
    "ArnNotEquals": (_string_like, True),
    "ArnNotLike": (_string_like, True),
    "Bool": (_string_equals_ignore_case, False),
}


def _condition_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _condition_holds(
    operator: str, expected_by_key: dict[str, Any], context: dict[str, list[str]]
) -> bool:
    """Evaluate one condition operator block, whose keys must all hold.

    ``context`` maps lower-case condition keys to the request's values. A key that the request
    does not carry fails a positive operator and passes a negated one, as in AWS. The
    ``IfExists`` suffix makes a missing key pass.
    """
    if_exists = operator.endswith("IfExists") and operator != "IfExists"
    base_operator = operator[: -len("IfExists")] if if_exists else operator

    for key, expected in expected_by_key.items():
        expected_values = [_condition_value(v) for v in _as_list(expected)]
        actual_values = context.get(key.lower())

        if base_operator == "Null":
            key_is_missing = actual_values is None
            if any((v.lower() == "true") != key_is_missing for v in expected_values):
                return False
            continue

        if base_operator not in _CONDITION_OPERATORS:
            raise UnsupportedConditionError(operator)
        test, negated = _CONDITION_OPERATORS[base_operator]

        if actual_values is None:
            if if_exists or negated:
                continue
            return False
        any_match = any(test(e, a) for e in expected_values for a in actual_values)
        if any_match == negated:
            return False
    return True


def _conditions_hold(
    conditions: dict[str, dict[str, Any]], context: dict[str, list[str]]
) -> bool:
    return all(
        _condition_holds(operator, expected_by_key, context)
        for operator, expected_by_key in conditions.items()
    )


def evaluate_statement(
    statement: dict[str, Any],
    action: str,
    resource: str,
    caller: Caller | None = None,
    context: dict[str, list[str]] | None = None,
    named_principal_only: bool = False,
) -> PermissionResult:
    """Evaluate one policy statement for a request, as AWS does.

    The Principal element is only evaluated when ``caller`` is given, which is the case for
    resource policies (trust and bucket policies). With ``named_principal_only`` a statement
    applies only when its Principal names the caller itself. A statement without Resource
    (a trust policy) applies to any resource.
    """
    if not _element_matches(statement, "Action", "NotAction", action, ignore_case=True):
        return PermissionResult.NEUTRAL

    if caller is not None and "Principal" in statement:
        match = _principal_match(statement["Principal"], caller)
        if match is None or (named_principal_only and match != PRINCIPAL_NAMED):
            return PermissionResult.NEUTRAL
    elif caller is not None and "NotPrincipal" in statement:
        if named_principal_only or _principal_match(statement["NotPrincipal"], caller):
            return PermissionResult.NEUTRAL

    has_resource = "Resource" in statement or "NotResource" in statement
    if has_resource and not _element_matches(
        statement, "Resource", "NotResource", resource, ignore_case=False
    ):
        return PermissionResult.NEUTRAL

    is_allow = statement.get("Effect") == "Allow"
    try:
        conditions_hold = _conditions_hold(statement.get("Condition", {}), context or {})
    except UnsupportedConditionError as error:
        # Fail closed: an Allow that cannot be checked grants nothing, and a Deny applies.
        log.warning(
            "condition operator %s is not supported; treating the %s statement as %s",
            error,
            statement.get("Effect"),
            "not matching" if is_allow else "matching",
        )
        conditions_hold = not is_allow
    if not conditions_hold:
        return PermissionResult.NEUTRAL

    return PermissionResult.PERMITTED if is_allow else PermissionResult.DENIED


def evaluate_policy(
    policy: Any,
    action: str,
    resource: str,
    caller: Caller | None = None,
    context: dict[str, list[str]] | None = None,
    named_principal_only: bool = False,
) -> PermissionResult:
    """Evaluate a policy document: an explicit Deny wins, then any Allow.

    ``policy`` is anything moto's IAMPolicy accepts: a JSON string, a managed Policy object
    or an inline policy record.
    """
    document = IAMPolicy(policy)._policy_json
    permitted = False
    for statement in _as_list(document.get("Statement", [])):
        result = evaluate_statement(
            statement, action, resource, caller, context, named_principal_only
        )
        if result == PermissionResult.DENIED:
            return PermissionResult.DENIED
        if result == PermissionResult.PERMITTED:
            permitted = True
    return PermissionResult.PERMITTED if permitted else PermissionResult.NEUTRAL


def _resource_policy_allows(
    policy: Any,
    action: str,
    resource: str,
    caller: Caller,
    context: dict[str, list[str]],
    identity_allows: bool,
    resource_account_id: str,
) -> bool:
    """Combine the caller's identity policies with a resource policy, as AWS does.

    An explicit Deny in the resource policy always wins. Within one account, either the
    identity policies or a resource policy that names the caller itself suffice. Across
    accounts, both the identity policies and the resource policy must allow the request.
    """
    if policy is None:
        return identity_allows and resource_account_id == caller.account_id

    result = evaluate_policy(policy, action, resource, caller, context)
    if result == PermissionResult.DENIED:
        return False

    if resource_account_id == caller.account_id:
        if identity_allows:
            return True
        named = evaluate_policy(
            policy, action, resource, caller, context, named_principal_only=True
        )
        return result == PermissionResult.PERMITTED and named == PermissionResult.PERMITTED
    return identity_allows and result == PermissionResult.PERMITTED


# --- Request authorization -------------------------------------------------------------------


def _first_value(data: dict[str, Any], name: str) -> str | None:
    value = data.get(name)
    if isinstance(value, list):
        return value[0] if value else None
    return value


def _request_context(request: IAMRequestBase, caller: Caller) -> dict[str, list[str]]:
    """Collect the condition keys that this module supports for a request."""
    context = {
        "aws:principalarn": [caller.principal_arn],
        "aws:principalaccount": [caller.account_id],
        "aws:requestedregion": [request._region],
    }
    data = request._data
    if request._action == "sts:AssumeRole":
        for key, parameter in (
            ("sts:externalid", "ExternalId"),
            ("sts:rolesessionname", "RoleSessionName"),
        ):
            value = _first_value(data, parameter)
            if value is not None:
                context[key] = [value]
    elif request._action in ("s3:ListBucket", "s3:ListBucketVersions") and (
        request._method != "HEAD"
    ):
        # S3 sets s3:prefix to an empty string when a list request has no prefix, which is
        # why AWS's examples allow listing a bucket's top level with `"s3:prefix": [""]`.
        # HeadBucket is authorized as s3:ListBucket too, but it is no list request and
        # carries no s3:prefix.
        context["s3:prefix"] = [_first_value(data, "prefix") or ""]
        for key in ("delimiter", "max-keys"):
            value = _first_value(data, key)
            if value is not None:
                context[f"s3:{key}"] = [value]
    return context


def _trust_policy_allows(
    request: IAMRequestBase,
    role_arn: str,
    caller: Caller,
    context: dict[str, list[str]],
    identity_allows: bool,
) -> bool:
    """Decide an AssumeRole request from the role's trust policy and the caller's policies.

    AWS evaluates the trust policy on every AssumeRole, in the caller's account or another one.
    A role that does not exist is AccessDenied, so the caller cannot tell it from a role that
    does not trust it.
    """
    match = ROLE_ARN_PATTERN.match(role_arn)
    if match is None:
        return False
    partition, role_account_id, _ = match.groups()
    try:
        role = iam_backends[role_account_id][partition].get_role_by_arn(role_arn)
    except NotFoundException:
        return False

    trust_policy = role.assume_role_policy_document
    trust = evaluate_policy(trust_policy, request._action, role_arn, caller, context)
    if trust != PermissionResult.PERMITTED:
        return False
    return _resource_policy_allows(
        trust_policy,
        request._action,
        role_arn,
        caller,
        context,
        identity_allows,
        role_account_id,
    )


def _bucket_policy_allows(
    request: IAMRequestBase,
    resource: str,
    caller: Caller,
    context: dict[str, list[str]],
    identity_allows: bool,
) -> bool:
    """Decide an S3 request from the caller's policies and the bucket policy."""
    bucket_name = resource.split(":::", 1)[-1].split("/", 1)[0]
    owner = s3_backends.bucket_accounts.get(bucket_name)
    if owner is None:
        # No such bucket (yet): CreateBucket, ListBuckets, or a request that moto rejects
        # with NoSuchBucket after authorization.
        return identity_allows
    partition, bucket_account_id = owner
    bucket = s3_backends[bucket_account_id][partition].buckets.get(bucket_name)
    policy = bucket.policy.decode() if bucket is not None and bucket.policy else None
    return _resource_policy_allows(
        policy,
        request._action,
        resource,
        caller,
        context,
        identity_allows,
        bucket_account_id,
    )


def check_action_permitted(self: IAMRequestBase, resource: str) -> None:
    """Authorize a request with identity, trust and bucket policies, as AWS does.

    Replaces ``IAMRequestBase.check_action_permitted``, which skips trust policies of roles
    in other accounts and passes no request values to conditions.
    """
    self._requested_resource = resource
    if self._action == "sts:GetCallerIdentity":
        # AWS allows GetCallerIdentity even when a policy denies it explicitly.
        return

    caller = caller_from_arn(self._access_key.arn)
    context = _request_context(self, caller)

    identity_allows = False
    for policy in self._access_key.collect_policies():
        result = evaluate_policy(policy, self._action, resource, context=context)
        if result == PermissionResult.DENIED:
            self._raise_access_denied()
        if result == PermissionResult.PERMITTED:
            identity_allows = True

    if self._action == "sts:AssumeRole":
        allowed = _trust_policy_allows(self, resource, caller, context, identity_allows)
    elif isinstance(self, S3IAMRequest):
        allowed = _bucket_policy_allows(self, resource, caller, context, identity_allows)
    else:
        allowed = identity_allows

    if not allowed:
        self._raise_access_denied()


def statement_is_action_permitted(
    self: IAMPolicyStatement,
    action: str,
    resource: str = "*",
    principal: str | None = None,
    incoming_condition_values: dict[str, str] | None = None,
) -> PermissionResult:
    """Evaluate one statement as AWS does, in place of ``IAMPolicyStatement.is_action_permitted``.

    moto also calls it for bucket policies, without a principal.
    """
    caller = caller_from_arn(principal) if principal else None
    context = {
        key.lower(): [value] for key, value in (incoming_condition_values or {}).items()
    }
    return evaluate_statement(self._statement, action, resource, caller, context)


# --- Error shapes ----------------------------------------------------------------------------


class AwsProtocolError(HTTPException):
    """An authentication or authorization error in the shape of the service's protocol.

    moto's request dispatcher sends ``description`` as the body and ``code`` as the status.
    """

    def __init__(self, status: int, code: str, message: str, protocol: str) -> None:
        super().__init__()
        self.code = status
        if protocol == "query":
            self.description = (
                "<ErrorResponse><Error><Type>Sender</Type>"
                f"<Code>{escape(code)}</Code><Message>{escape(message)}</Message>"
                f"</Error><RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
            )
        else:
            self.description = json.dumps({"__type": code, "message": message})


@functools.lru_cache(maxsize=None)
def _service_protocol(service: str) -> str | None:
    try:
        return get_service_model(service).protocol
    except Exception:  # An unknown service name in a credential scope.
        return None


# Error codes by protocol: (status, query protocol code, JSON protocol code).
_AUTH_ERRORS = {
    "access_denied": (403, "AccessDenied", "AccessDeniedException"),
    "invalid_access_key": (403, "InvalidClientTokenId", "UnrecognizedClientException"),
    "signature_does_not_match": (403, "SignatureDoesNotMatch", "InvalidSignatureException"),
}

_AUTH_ERROR_MESSAGES = {
    "invalid_access_key": "The security token included in the request is invalid.",
    "signature_does_not_match": (
        "The request signature we calculated does not match the signature you provided. "
        "Check your AWS Secret Access Key and signing method. "
        "Consult the service documentation for details."
    ),
}


def _patch_auth_error(kind: str) -> Callable[..., None]:
    """Wrap one of IAMRequest's ``_raise_*`` methods to raise the service's error shape."""
    original = getattr(IAMRequest, f"_raise_{kind}")

    def raise_error(self: IAMRequest, *args: Any) -> None:
        protocol = _service_protocol(self._service)
        if protocol not in ("query", "json", "rest-json"):
            original(self, *args)
            return
        status, query_code, json_code = _AUTH_ERRORS[kind]
        if kind == "access_denied":
            message = (
                f"User: {self._access_key.arn} is not authorized to perform: {self._action}"
            )
            resource = getattr(self, "_requested_resource", "*")
            if resource != "*":
                message += f" on resource: {resource}"
        else:
            message = _AUTH_ERROR_MESSAGES[kind]
        code = query_code if protocol == "query" else json_code
        raise AwsProtocolError(status, code, message, protocol)

    return raise_error


# --- S3 wrong-region responses --------------------------------------------------------------

_CREDENTIAL_SCOPE_PATTERN = re.compile(
    r"Credential=[^/,\s]+/\d{8}/(?P<region>[^/]+)/(?P<service>[^/]+)/aws4_request"
)
_QUERY_CREDENTIAL_PATTERN = re.compile(
    r"X-Amz-Credential=[^%&/]+(?:%2F|/)\d{8}(?:%2F|/)(?P<region>[^%&/]+)(?:%2F|/)"
    r"(?P<service>[^%&/]+)(?:%2F|/)aws4_request"
)


def _credential_scope(environ: dict[str, Any]) -> tuple[str, str] | None:
    """Return (region, service) from a SigV4 Authorization header or presigned URL."""
    match = _CREDENTIAL_SCOPE_PATTERN.search(environ.get("HTTP_AUTHORIZATION", ""))
    if match is None:
        match = _QUERY_CREDENTIAL_PATTERN.search(environ.get("QUERY_STRING", ""))
    if match is None:
        return None
    return match.group("region"), match.group("service")


def _bucket_region(bucket_name: str) -> str | None:
    owner = s3_backends.bucket_accounts.get(bucket_name)
    if owner is None:
        return None
    partition, account_id = owner
    bucket = s3_backends[account_id][partition].buckets.get(bucket_name)
    return bucket.region_name if bucket is not None else None


def wrong_region_response(
    environ: dict[str, Any],
) -> tuple[str, list[tuple[str, str]], bytes] | None:
    """Return AWS's response when an S3 client signs for another region than the bucket's.

    Real S3 sends these responses before it authorizes the request:

    * HEAD (HeadBucket, HeadObject): 301 with no body and ``x-amz-bucket-region``.
    * a client that signs for us-east-1: 400 AuthorizationHeaderMalformed, naming the
      expected region, as the global endpoint does.
    * any other client region: 301 PermanentRedirect, as a regional endpoint does.

    NOTE: This assumes path-style requests (``/<bucket>/<key>``), which is what clients send
    to an IP address endpoint. Real S3 picks 301 or 400 by the endpoint that was called, and
    this emulation picks it by the signing region, because every request here reaches the
    same local endpoint.
    """
    scope = _credential_scope(environ)
    if scope is None or scope[1] != "s3":
        return None
    client_region = scope[0]
    bucket_name = environ.get("PATH_INFO", "").lstrip("/").split("/", 1)[0]
    if not bucket_name:
        return None
    # GetBucketLocation returns the region of a bucket to a client in any region.
    query_keys = {item.split("=", 1)[0] for item in environ.get("QUERY_STRING", "").split("&")}
    if "location" in query_keys:
        return None
    bucket_region = _bucket_region(bucket_name)
    if bucket_region is None or bucket_region == client_region:
        return None

    request_id = uuid.uuid4().hex[:16].upper()
    headers = [
        ("x-amz-bucket-region", bucket_region),
        ("x-amz-request-id", request_id),
        ("Content-Type", "application/xml"),
    ]
    if environ.get("REQUEST_METHOD") == "HEAD":
        return "301 Moved Permanently", headers + [("Content-Length", "0")], b""

    if client_region == "us-east-1":
        status = "400 Bad Request"
        error = (
            "<Code>AuthorizationHeaderMalformed</Code>"
            "<Message>The authorization header is malformed; the region "
            f"'{escape(client_region)}' is wrong; expecting '{escape(bucket_region)}'"
            f"</Message><Region>{escape(bucket_region)}</Region>"
        )
    else:
        status = "301 Moved Permanently"
        error = (
            "<Code>PermanentRedirect</Code>"
            "<Message>The bucket you are attempting to access must be addressed using the "
            "specified endpoint. Please send all future requests to this endpoint.</Message>"
            f"<Endpoint>{escape(bucket_name)}.s3.{escape(bucket_region)}.amazonaws.com"
            f"</Endpoint><Bucket>{escape(bucket_name)}</Bucket>"
        )
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error>{error}<RequestId>{request_id}</RequestId></Error>"
    ).encode()
    return status, headers + [("Content-Length", str(len(body)))], body


def _bucket_owner(bucket_name: str) -> str | None:
    owner = s3_backends.bucket_accounts.get(bucket_name)
    return owner[1] if owner is not None else None


def wrong_owner_response(
    environ: dict[str, Any],
) -> tuple[str, list[tuple[str, str]], bytes] | None:
    """Return AWS's 403 when ``x-amz-expected-bucket-owner`` names another account than the
    bucket's owner, or None when the header is absent or matches."""
    expected_owner = environ.get("HTTP_X_AMZ_EXPECTED_BUCKET_OWNER")
    scope = _credential_scope(environ)
    if not expected_owner or scope is None or scope[1] != "s3":
        return None
    bucket_name = environ.get("PATH_INFO", "").lstrip("/").split("/", 1)[0]
    owner = _bucket_owner(bucket_name) if bucket_name else None
    if owner is None or owner == expected_owner:
        return None

    request_id = uuid.uuid4().hex[:16].upper()
    body = b""
    if environ.get("REQUEST_METHOD") != "HEAD":
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            "<Error><Code>AccessDenied</Code><Message>Access Denied</Message>"
            f"<RequestId>{request_id}</RequestId></Error>"
        ).encode()
    headers = [
        ("x-amz-request-id", request_id),
        ("Content-Type", "application/xml"),
        ("Content-Length", str(len(body))),
    ]
    return "403 Forbidden", headers, body


def head_bucket_target(environ: dict[str, Any]) -> str | None:
    """Return the bucket name of a signed HeadBucket request, or None for any other request."""
    scope = _credential_scope(environ)
    if scope is None or scope[1] != "s3" or environ.get("REQUEST_METHOD") != "HEAD":
        return None
    bucket_name, _, key = environ.get("PATH_INFO", "").lstrip("/").partition("/")
    if not bucket_name or key:
        return None
    return bucket_name


def missing_bucket_response() -> tuple[str, list[tuple[str, str]], bytes]:
    """Return AWS's response to HeadBucket of a bucket that does not exist: 404 with no body.

    AWS sends it before authorization, so a caller without S3 permissions gets it too.
    """
    headers = [
        ("x-amz-request-id", uuid.uuid4().hex[:16].upper()),
        ("Content-Length", "0"),
    ]
    return "404 Not Found", headers, b""


def with_bucket_region_header(
    start_response: Callable[..., Any], bucket_region: str
) -> Callable[..., Any]:
    """Wrap ``start_response`` to add ``x-amz-bucket-region`` when moto's response lacks it.

    AWS names the bucket's region in every HeadBucket response of an existing bucket, the 403
    of a caller without access included.
    """

    def start(status: str, headers: list[tuple[str, str]], *args: Any) -> Any:
        if not any(name.lower() == "x-amz-bucket-region" for name, _ in headers):
            headers = [*headers, ("x-amz-bucket-region", bucket_region)]
        return start_response(status, headers, *args)

    return start


class RegionRedirectMiddleware:
    """WSGI middleware that rejects S3 requests signed for the wrong region or for another
    bucket owner, and handles HeadBucket of missing or denied buckets, as AWS does."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self._app = app

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        rejection = wrong_region_response(environ) or wrong_owner_response(environ)
        if rejection is not None:
            status, headers, body = rejection
            start_response(status, headers)
            return [body]

        head_bucket = head_bucket_target(environ)
        if head_bucket is None:
            return self._app(environ, start_response)
        bucket_region = _bucket_region(head_bucket)
        if bucket_region is None:
            status, headers, body = missing_bucket_response()
            start_response(status, headers)
            return [body]
        return self._app(environ, with_bucket_region_header(start_response, bucket_region))


# --- Installation ----------------------------------------------------------------------------


def apply() -> None:
    """Install the patches into moto's classes. Raises RuntimeError on another moto version."""
    if moto.__version__ != SUPPORTED_MOTO_VERSION:
        raise RuntimeError(
            f"moto_ext patches moto {SUPPORTED_MOTO_VERSION} internals, but moto "
            f"{moto.__version__} is installed: update the patches together with the pin in "
            "scripts/requirements-stack.txt"
        )

    IAMRequestBase.check_action_permitted = check_action_permitted
    IAMPolicyStatement.is_action_permitted = statement_is_action_permitted
    for kind in _AUTH_ERRORS:
        setattr(IAMRequest, f"_raise_{kind}", _patch_auth_error(kind))
    s3_responses.ACTION_MAP["BUCKET"]["HEAD"]["DEFAULT"] = "ListBucket"
