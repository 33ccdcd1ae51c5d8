"""Tests of moto_ext against the running local stack.

Run them through scripts/test.sh, which starts the stack and exports .local/stack.env. Every
test makes its own uniquely named buckets and roles, so the tests can run in parallel with
each other and with the Rust tests.
"""

from __future__ import annotations

import http.client
import json
import os
import uuid
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import boto3
import pytest
from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

CLIENT_CONFIG = Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1})


def require_env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.fail(
            f"{name} is not set: run scripts/test.sh, or run scripts/stack.sh start and "
            "source .local/stack.env"
        )
    return value


@dataclass(frozen=True)
class Stack:
    endpoint: str
    platform_principal_arn: str
    platform_credentials: Credentials
    customer_account_ids: list[str]

    def admin_credentials(self, account_id: str) -> Credentials:
        return Credentials(
            require_env(f"ADMIN_ACCESS_KEY_ID_{account_id}"),
            require_env(f"ADMIN_SECRET_ACCESS_KEY_{account_id}"),
        )

    def client(
        self, service: str, credentials: Credentials, region: str = "us-east-1"
    ) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=region,
            aws_access_key_id=credentials.access_key,
            aws_secret_access_key=credentials.secret_key,
            aws_session_token=credentials.token,
            config=CLIENT_CONFIG,
        )


@pytest.fixture(scope="session")
def stack() -> Stack:
    return Stack(
        endpoint=require_env("AWS_ENDPOINT_URL_STS"),
        platform_principal_arn=require_env("PLATFORM_PRINCIPAL_ARN"),
        platform_credentials=Credentials(
            require_env("PLATFORM_ACCESS_KEY_ID"),
            require_env("PLATFORM_SECRET_ACCESS_KEY"),
            require_env("PLATFORM_SESSION_TOKEN"),
        ),
        customer_account_ids=require_env("CUSTOMER_ACCOUNT_IDS").split(","),
    )


def unique_name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:20]}"


def platform_trust(stack: Stack, external_id: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": stack.platform_principal_arn},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"sts:ExternalId": external_id}},
            }
        ],
    }


def create_role(
    stack: Stack,
    account_id: str,
    trust: dict[str, Any],
    permissions: dict[str, Any] | None = None,
) -> str:
    iam = stack.client("iam", stack.admin_credentials(account_id))
    role_name = unique_name("role")
    role_arn = iam.create_role(
        RoleName=role_name, AssumeRolePolicyDocument=json.dumps(trust)
    )["Role"]["Arn"]
    if permissions is not None:
        iam.put_role_policy(
            RoleName=role_name,
            PolicyName="permissions",
            PolicyDocument=json.dumps(permissions),
        )
    return role_arn


def create_bucket(
    stack: Stack, account_id: str, region: str, objects: dict[str, bytes]
) -> str:
    s3 = stack.client("s3", stack.admin_credentials(account_id), region)
    bucket = unique_name("bucket")
    if region == "us-east-1":
        s3.create_bucket(Bucket=bucket)
    else:
        s3.create_bucket(
            Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region}
        )
    for key, body in objects.items():
        s3.put_object(Bucket=bucket, Key=key, Body=body)
    return bucket


def assume(
    stack: Stack, role_arn: str, external_id: str | None, caller: Credentials | None = None
) -> Credentials:
    sts = stack.client("sts", caller or stack.platform_credentials)
    parameters = {"RoleArn": role_arn, "RoleSessionName": "moto-ext-test"}
    if external_id is not None:
        parameters["ExternalId"] = external_id
    issued = sts.assume_role(**parameters)["Credentials"]
    return Credentials(
        issued["AccessKeyId"], issued["SecretAccessKey"], issued["SessionToken"]
    )


def error_code(error: ClientError) -> str:
    return error.response["Error"]["Code"]


def read_policy(bucket: str, prefix: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{bucket}/{prefix}*",
            },
            {
                "Effect": "Allow",
                "Action": "s3:ListBucket",
                "Resource": f"arn:aws:s3:::{bucket}",
                "Condition": {"StringLike": {"s3:prefix": [f"{prefix}*"]}},
            },
        ],
    }


def signed_request(
    stack: Stack,
    method: str,
    path: str,
    region: str,
    credentials: Credentials,
    service: str = "s3",
    body: bytes = b"",
    headers: dict[str, str] | None = None,
) -> http.client.HTTPResponse:
    """Send a SigV4-signed request without an SDK, so that no redirect handling interferes."""
    url = f"{stack.endpoint}{path}"
    request = AWSRequest(method=method, url=url, data=body, headers=headers or {})
    signer_class = S3SigV4Auth if service == "s3" else SigV4Auth
    signer_class(credentials, service, region).add_auth(request)
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    connection.request(method, target, body=body, headers=dict(request.headers))
    response = connection.getresponse()
    response.body = response.read()  # type: ignore[attr-defined]
    connection.close()
    return response


# --- AssumeRole and trust policies -----------------------------------------------------------


def test_right_external_id_is_accepted(stack: Stack) -> None:
    customer = stack.customer_account_ids[0]
    role_arn = create_role(stack, customer, platform_trust(stack, "ext-right"))

    credentials = assume(stack, role_arn, "ext-right")

    identity = stack.client("sts", credentials).get_caller_identity()
    assert identity["Account"] == customer
    assert identity["Arn"].startswith(f"arn:aws:sts::{customer}:assumed-role/")


def test_wrong_external_id_is_denied(stack: Stack) -> None:
    role_arn = create_role(
        stack, stack.customer_account_ids[0], platform_trust(stack, "ext-right")
    )

    with pytest.raises(ClientError) as raised:
        assume(stack, role_arn, "ext-wrong")

    assert error_code(raised.value) == "AccessDenied"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert role_arn in raised.value.response["Error"]["Message"]


def test_missing_external_id_is_denied(stack: Stack) -> None:
    role_arn = create_role(
        stack, stack.customer_account_ids[0], platform_trust(stack, "ext-right")
    )

    with pytest.raises(ClientError) as raised:
        assume(stack, role_arn, None)

    assert error_code(raised.value) == "AccessDenied"


def test_same_account_assume_role_checks_external_id(stack: Stack) -> None:
    customer = stack.customer_account_ids[0]
    admin_arn = f"arn:aws:iam::{customer}:user/stack-admin"
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": admin_arn},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"sts:ExternalId": "ext-right"}},
            }
        ],
    }
    role_arn = create_role(stack, customer, trust)
    admin = stack.admin_credentials(customer)

    assert assume(stack, role_arn, "ext-right", caller=admin).token
    for external_id in ("ext-wrong", None):
        with pytest.raises(ClientError) as raised:
            assume(stack, role_arn, external_id, caller=admin)
        assert error_code(raised.value) == "AccessDenied", external_id


def test_missing_role_is_denied(stack: Stack) -> None:
    missing_role_arn = (
        f"arn:aws:iam::{stack.customer_account_ids[0]}:role/{unique_name('missing')}"
    )

    with pytest.raises(ClientError) as raised:
        assume(stack, missing_role_arn, "ext-right")

    assert error_code(raised.value) == "AccessDenied"


def test_untrusted_caller_is_denied(stack: Stack) -> None:
    other_customer = stack.customer_account_ids[1]
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{other_customer}:root"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    role_arn = create_role(stack, stack.customer_account_ids[0], trust)

    with pytest.raises(ClientError) as raised:
        assume(stack, role_arn, None)

    assert error_code(raised.value) == "AccessDenied"
    # The trusted account can assume it, with its admin's allow-all identity policy.
    assert assume(stack, role_arn, None, caller=stack.admin_credentials(other_customer))


def test_trusted_account_id_admits_platform(stack: Stack) -> None:
    platform_account = stack.platform_principal_arn.split(":")[4]
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": platform_account},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    role_arn = create_role(stack, stack.customer_account_ids[0], trust)

    assert assume(stack, role_arn, None).token


def test_explicit_deny_in_trust_policy_wins(stack: Stack) -> None:
    trust = platform_trust(stack, "ext-right")
    trust["Statement"].append(
        {
            "Effect": "Deny",
            "Principal": {"AWS": "*"},
            "Action": "sts:AssumeRole",
            "Condition": {"StringLike": {"sts:RoleSessionName": "moto-ext-*"}},
        }
    )
    role_arn = create_role(stack, stack.customer_account_ids[0], trust)

    with pytest.raises(ClientError) as raised:
        assume(stack, role_arn, "ext-right")

    assert error_code(raised.value) == "AccessDenied"


def test_sts_error_has_query_shape(stack: Stack) -> None:
    role_arn = create_role(
        stack, stack.customer_account_ids[0], platform_trust(stack, "ext-right")
    )
    body = urlencode(
        {
            "Action": "AssumeRole",
            "Version": "2011-06-15",
            "RoleSessionName": "shape",
            "RoleArn": role_arn,
            "ExternalId": "ext-wrong",
        }
    ).encode()

    response = signed_request(
        stack,
        "POST",
        "/",
        "us-east-1",
        stack.platform_credentials,
        service="sts",
        body=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )

    assert response.status == 403
    root = ElementTree.fromstring(response.body)
    assert root.tag == "ErrorResponse"
    assert [child.tag for child in root] == ["Error", "RequestId"]
    error = root.find("Error")
    assert error.findtext("Type") == "Sender"
    assert error.findtext("Code") == "AccessDenied"
    assert "sts:AssumeRole" in error.findtext("Message")
    assert root.findtext("RequestId")


def test_eventbridge_error_has_json_shape(stack: Stack) -> None:
    role_arn = create_role(
        stack,
        stack.customer_account_ids[0],
        platform_trust(stack, "ext-right"),
        permissions={
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
        },
    )
    events = stack.client("events", assume(stack, role_arn, "ext-right"))

    with pytest.raises(ClientError) as raised:
        events.list_event_buses()

    assert error_code(raised.value) == "AccessDeniedException"


# --- S3 authorization ------------------------------------------------------------------------


def test_head_bucket_is_authorized_as_list_bucket(stack: Stack) -> None:
    customer = stack.customer_account_ids[0]
    bucket = create_bucket(stack, customer, "us-east-1", {})
    list_bucket_role = create_role(
        stack,
        customer,
        platform_trust(stack, "ext-right"),
        permissions={
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": "s3:ListBucket",
                    "Resource": f"arn:aws:s3:::{bucket}",
                }
            ],
        },
    )
    head_bucket_role = create_role(
        stack,
        customer,
        platform_trust(stack, "ext-right"),
        permissions={
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": "s3:HeadBucket",
                    "Resource": f"arn:aws:s3:::{bucket}",
                }
            ],
        },
    )

    allowed = stack.client("s3", assume(stack, list_bucket_role, "ext-right"))
    denied = stack.client("s3", assume(stack, head_bucket_role, "ext-right"))

    assert allowed.head_bucket(Bucket=bucket)["ResponseMetadata"]["HTTPStatusCode"] == 200
    with pytest.raises(ClientError) as raised:
        denied.head_bucket(Bucket=bucket)
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_list_bucket_honours_s3_prefix_condition(stack: Stack) -> None:
    customer = stack.customer_account_ids[0]
    bucket = create_bucket(
        stack, customer, "us-east-1", {"reports/a.csv": b"a", "private/b.csv": b"b"}
    )
    role_arn = create_role(
        stack,
        customer,
        platform_trust(stack, "ext-right"),
        permissions=read_policy(bucket, "reports/"),
    )
    s3 = stack.client("s3", assume(stack, role_arn, "ext-right"))

    listed = s3.list_objects_v2(Bucket=bucket, Prefix="reports/")
    assert [item["Key"] for item in listed["Contents"]] == ["reports/a.csv"]
    assert s3.get_object(Bucket=bucket, Key="reports/a.csv")["Body"].read() == b"a"
    for prefix in ("private/", ""):
        with pytest.raises(ClientError) as raised:
            s3.list_objects_v2(Bucket=bucket, Prefix=prefix)
        assert error_code(raised.value) == "AccessDenied", prefix
    with pytest.raises(ClientError) as raised:
        s3.get_object(Bucket=bucket, Key="private/b.csv")
    assert error_code(raised.value) == "AccessDenied"


def test_prefix_conditioned_grant_denies_head_bucket(stack: Stack) -> None:
    customer = stack.customer_account_ids[0]
    bucket = create_bucket(stack, customer, "us-east-1", {})
    role_arn = create_role(
        stack,
        customer,
        platform_trust(stack, "ext-right"),
        permissions=read_policy(bucket, "reports/"),
    )
    s3 = stack.client("s3", assume(stack, role_arn, "ext-right"))

    with pytest.raises(ClientError) as raised:
        s3.head_bucket(Bucket=bucket)

    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_cross_account_bucket_access_needs_bucket_policy(stack: Stack) -> None:
    owner, reader = stack.customer_account_ids
    bucket = create_bucket(stack, owner, "us-east-1", {"shared/a.csv": b"a"})
    reader_role = create_role(
        stack,
        reader,
        platform_trust(stack, "ext-right"),
        permissions=read_policy(bucket, "shared/"),
    )
    s3 = stack.client("s3", assume(stack, reader_role, "ext-right"))

    with pytest.raises(ClientError) as raised:
        s3.get_object(Bucket=bucket, Key="shared/a.csv")
    assert error_code(raised.value) == "AccessDenied"

    bucket_policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": reader_role},
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{bucket}/shared/*",
            }
        ],
    }
    owner_s3 = stack.client("s3", stack.admin_credentials(owner))
    owner_s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(bucket_policy))

    assert s3.get_object(Bucket=bucket, Key="shared/a.csv")["Body"].read() == b"a"


# --- S3 wrong-region responses --------------------------------------------------------------


def test_wrong_region_head_bucket_gets_301(stack: Stack) -> None:
    customer = stack.customer_account_ids[0]
    bucket = create_bucket(stack, customer, "eu-west-1", {})
    admin = stack.admin_credentials(customer)

    wrong = signed_request(stack, "HEAD", f"/{bucket}", "us-east-1", admin)
    right = signed_request(stack, "HEAD", f"/{bucket}", "eu-west-1", admin)

    assert wrong.status == 301
    assert wrong.getheader("x-amz-bucket-region") == "eu-west-1"
    assert wrong.body == b""
    assert right.status == 200
    assert right.getheader("x-amz-bucket-region") == "eu-west-1"


def test_wrong_region_get_gets_permanent_redirect(stack: Stack) -> None:
    customer = stack.customer_account_ids[0]
    bucket = create_bucket(stack, customer, "eu-west-1", {"a.csv": b"a"})

    response = signed_request(
        stack, "GET", f"/{bucket}/a.csv", "us-west-2", stack.admin_credentials(customer)
    )

    assert response.status == 301
    assert response.getheader("x-amz-bucket-region") == "eu-west-1"
    error = ElementTree.fromstring(response.body)
    assert error.findtext("Code") == "PermanentRedirect"
    assert error.findtext("Bucket") == bucket


def test_us_east_1_signature_gets_malformed_header_error(stack: Stack) -> None:
    customer = stack.customer_account_ids[0]
    bucket = create_bucket(stack, customer, "ap-southeast-2", {})
    s3 = stack.client("s3", stack.admin_credentials(customer), "us-east-1")
    # botocore retries such errors in the bucket's region, so the raw response is checked below.
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0

    response = signed_request(
        stack, "GET", f"/{bucket}?list-type=2", "us-east-1", stack.admin_credentials(customer)
    )

    assert response.status == 400
    error = ElementTree.fromstring(response.body)
    assert error.findtext("Code") == "AuthorizationHeaderMalformed"
    assert error.findtext("Region") == "ap-southeast-2"


def test_get_bucket_location_works_from_any_region(stack: Stack) -> None:
    customer = stack.customer_account_ids[0]
    bucket = create_bucket(stack, customer, "eu-west-1", {})

    response = signed_request(
        stack, "GET", f"/{bucket}?location", "us-east-1", stack.admin_credentials(customer)
    )

    assert response.status == 200
    assert ElementTree.fromstring(response.body).text == "eu-west-1"


def test_region_check_precedes_authorization(stack: Stack) -> None:
    customer = stack.customer_account_ids[0]
    bucket = create_bucket(stack, customer, "eu-west-1", {})
    role_without_s3 = create_role(stack, customer, platform_trust(stack, "ext-right"))

    response = signed_request(
        stack,
        "HEAD",
        f"/{bucket}",
        "us-east-1",
        assume(stack, role_without_s3, "ext-right"),
    )

    assert response.status == 301
    assert response.getheader("x-amz-bucket-region") == "eu-west-1"


def test_denied_head_bucket_names_the_region(stack: Stack) -> None:
    customer = stack.customer_account_ids[0]
    bucket = create_bucket(stack, customer, "eu-west-1", {})

    response = signed_request(
        stack, "HEAD", f"/{bucket}", "eu-west-1", stack.platform_credentials
    )

    assert response.status == 403
    assert response.getheader("x-amz-bucket-region") == "eu-west-1"


def test_head_bucket_of_missing_bucket_gets_404(stack: Stack) -> None:
    missing = unique_name("missing")
    admin = stack.admin_credentials(stack.customer_account_ids[0])

    for credentials in (stack.platform_credentials, admin):
        response = signed_request(stack, "HEAD", f"/{missing}", "us-east-1", credentials)

        assert response.status == 404
        assert response.body == b""
        assert response.getheader("x-amz-bucket-region") is None


def test_head_object_is_not_taken_for_head_bucket(stack: Stack) -> None:
    customer = stack.customer_account_ids[0]
    bucket = create_bucket(stack, customer, "us-east-1", {})

    response = signed_request(
        stack, "HEAD", f"/{bucket}/missing.csv", "us-east-1", stack.admin_credentials(customer)
    )

    assert response.status == 404
    assert response.getheader("x-amz-bucket-region") is None


def test_wrong_expected_bucket_owner_is_denied(stack: Stack) -> None:
    owner, other = stack.customer_account_ids[:2]
    bucket = create_bucket(stack, owner, "us-east-1", {"a.csv": b"a"})
    s3 = stack.client("s3", stack.admin_credentials(owner))

    matching = s3.get_object(Bucket=bucket, Key="a.csv", ExpectedBucketOwner=owner)
    with pytest.raises(ClientError) as raised:
        s3.get_object(Bucket=bucket, Key="a.csv", ExpectedBucketOwner=other)

    assert matching["Body"].read() == b"a"
    assert error_code(raised.value) == "AccessDenied"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


# --- Seeded identities -----------------------------------------------------------------------


def test_platform_credentials_are_a_platform_role_session(stack: Stack) -> None:
    identity = stack.client("sts", stack.platform_credentials).get_caller_identity()

    role_name = stack.platform_principal_arn.split("/")[-1]
    account_id = stack.platform_principal_arn.split(":")[4]
    assert identity["Account"] == account_id
    assert identity["Arn"].startswith(f"arn:aws:sts::{account_id}:assumed-role/{role_name}/")


def test_admin_keys_belong_to_their_accounts(stack: Stack) -> None:
    for account_id in stack.customer_account_ids:
        sts = stack.client("sts", stack.admin_credentials(account_id))
        assert sts.get_caller_identity()["Account"] == account_id


def test_platform_cannot_read_buckets_directly(stack: Stack) -> None:
    customer = stack.customer_account_ids[0]
    bucket = create_bucket(stack, customer, "us-east-1", {"a.csv": b"a"})
    s3 = stack.client("s3", stack.platform_credentials)

    with pytest.raises(ClientError) as raised:
        s3.get_object(Bucket=bucket, Key="a.csv")

    assert error_code(raised.value) == "AccessDenied"
