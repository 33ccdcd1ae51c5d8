"""Seed a fresh moto server with the accounts and identities that the tests use.

Usage: seed.py --endpoint http://127.0.0.1:PORT

Prints shell ``export`` lines for the seeded identities on stdout. The design of the accounts
is described in moto_server.py. The server must have IAM checks off when this starts, and it
has them on when this returns.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import urllib.request
from typing import Any

import boto3

REGION = "us-east-1"
PLATFORM_ACCOUNT_ID = "111111111111"
CUSTOMER_ACCOUNT_IDS = ("222222222222", "333333333333")
PLATFORM_ROLE_NAME = "s3-endpoints-platform"
ADMIN_USER_NAME = "stack-admin"
PLATFORM_SESSION_SECONDS = 12 * 60 * 60

# Any access key works while IAM checks are off. Once they are on, moto rejects this one,
# because no account created it.
SEEDING_ACCESS_KEY_ID = "AKIASEEDINGSTACK0000"
SEEDING_SECRET_ACCESS_KEY = "seeding-secret"

ALLOW_ALL_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
}

PLATFORM_TRUST_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{PLATFORM_ACCOUNT_ID}:root"},
            "Action": "sts:AssumeRole",
        }
    ],
}

PLATFORM_PERMISSIONS_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "AssumeCustomerRoles",
            "Effect": "Allow",
            "Action": ["sts:AssumeRole", "sts:TagSession"],
            "Resource": "*",
        },
        {"Sid": "PublishEvents", "Effect": "Allow", "Action": "events:*", "Resource": "*"},
    ],
}


def set_iam_checks(endpoint: str, initial_no_auth_action_count: str) -> None:
    """Set moto's auth switch: ``0`` turns IAM checks on, ``inf`` turns them off."""
    request = urllib.request.Request(
        f"{endpoint}/moto-api/reset-auth",
        data=initial_no_auth_action_count.encode(),
        headers={"Content-Type": "text/plain"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        if response.status != 200:
            raise RuntimeError(f"moto reset-auth returned HTTP {response.status}")


def client_in_account(service: str, endpoint: str, account_id: str) -> Any:
    """Return a client whose requests moto files under ``account_id`` while checks are off."""
    client = boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=SEEDING_ACCESS_KEY_ID,
        aws_secret_access_key=SEEDING_SECRET_ACCESS_KEY,
    )

    def add_account_header(request: Any, **_: Any) -> None:
        request.headers["x-moto-account-id"] = account_id

    client.meta.events.register("before-send", add_account_header)
    return client


def create_admin(endpoint: str, account_id: str) -> dict[str, str]:
    iam = client_in_account("iam", endpoint, account_id)
    iam.create_user(UserName=ADMIN_USER_NAME)
    iam.put_user_policy(
        UserName=ADMIN_USER_NAME,
        PolicyName="allow-all",
        PolicyDocument=json.dumps(ALLOW_ALL_POLICY),
    )
    key = iam.create_access_key(UserName=ADMIN_USER_NAME)["AccessKey"]
    return {"id": key["AccessKeyId"], "secret": key["SecretAccessKey"]}


def create_platform_role(endpoint: str) -> str:
    iam = client_in_account("iam", endpoint, PLATFORM_ACCOUNT_ID)
    role = iam.create_role(
        RoleName=PLATFORM_ROLE_NAME,
        AssumeRolePolicyDocument=json.dumps(PLATFORM_TRUST_POLICY),
        MaxSessionDuration=PLATFORM_SESSION_SECONDS,
        Description="Principal that the S3 endpoint service runs as",
    )["Role"]
    iam.put_role_policy(
        RoleName=PLATFORM_ROLE_NAME,
        PolicyName="platform",
        PolicyDocument=json.dumps(PLATFORM_PERMISSIONS_POLICY),
    )
    return role["Arn"]


def assume_platform_role(
    endpoint: str, admin: dict[str, str], role_arn: str
) -> dict[str, str]:
    """Assume the platform role with IAM checks on, and check the session's identity."""
    sts = boto3.client(
        "sts",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=admin["id"],
        aws_secret_access_key=admin["secret"],
    )
    credentials = sts.assume_role(
        RoleArn=role_arn,
        RoleSessionName="s3-endpoints-service",
        DurationSeconds=PLATFORM_SESSION_SECONDS,
    )["Credentials"]

    session_sts = boto3.client(
        "sts",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )
    identity = session_sts.get_caller_identity()
    expected_prefix = f"arn:aws:sts::{PLATFORM_ACCOUNT_ID}:assumed-role/{PLATFORM_ROLE_NAME}/"
    if not identity["Arn"].startswith(expected_prefix):
        raise RuntimeError(
            f"platform session has identity {identity['Arn']}, expected {expected_prefix}*"
        )
    return {
        "id": credentials["AccessKeyId"],
        "secret": credentials["SecretAccessKey"],
        "token": credentials["SessionToken"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", required=True, help="moto base URL")
    endpoint = parser.parse_args().endpoint.rstrip("/")

    set_iam_checks(endpoint, "inf")
    admins = {
        account_id: create_admin(endpoint, account_id)
        for account_id in (PLATFORM_ACCOUNT_ID, *CUSTOMER_ACCOUNT_IDS)
    }
    platform_role_arn = create_platform_role(endpoint)
    set_iam_checks(endpoint, "0")
    platform = assume_platform_role(endpoint, admins[PLATFORM_ACCOUNT_ID], platform_role_arn)

    exports = {
        "PLATFORM_ACCOUNT_ID": PLATFORM_ACCOUNT_ID,
        "PLATFORM_PRINCIPAL_ARN": platform_role_arn,
        "PLATFORM_ACCESS_KEY_ID": platform["id"],
        "PLATFORM_SECRET_ACCESS_KEY": platform["secret"],
        "PLATFORM_SESSION_TOKEN": platform["token"],
        "CUSTOMER_ACCOUNT_IDS": ",".join(CUSTOMER_ACCOUNT_IDS),
    }
    for account_id, admin in admins.items():
        exports[f"ADMIN_ACCESS_KEY_ID_{account_id}"] = admin["id"]
        exports[f"ADMIN_SECRET_ACCESS_KEY_{account_id}"] = admin["secret"]
    for name, value in exports.items():
        print(f"export {name}={shlex.quote(value)}")


if __name__ == "__main__":
    try:
        main()
    except Exception as error:  # Report one line to stack.sh, then the traceback.
        print(f"seeding moto failed: {error}", file=sys.stderr)
        raise
