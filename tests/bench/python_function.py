"""A Python Lambda function with boto3, the usual alternative to the Rust functions.

The cold-start benchmark runs this under CPython as the floor of the Python comparison. It
does what a Python function's initialization does: import boto3 and build the clients named
in BENCH_PYTHON_CLIENTS (comma-separated boto3 service names), each from the environment's
region, credentials and AWS_ENDPOINT_URL_* overrides. Then it runs the Lambda Runtime API
loop against AWS_LAMBDA_RUNTIME_API and answers every event with one DynamoDB GetItem of the
External ID item of BENCH_TENANT in TABLE_NAME.

It uses only the standard library besides boto3, so its start-up is CPython's and boto3's.
"""

import http.client
import json
import os
import sys

import boto3

RUNTIME_PATH = "/2018-06-01/runtime"


def build_clients():
    """Return the boto3 clients named in BENCH_PYTHON_CLIENTS, by service name."""
    names = [name for name in os.environ["BENCH_PYTHON_CLIENTS"].split(",") if name]
    session = boto3.session.Session()
    return {name: session.client(name) for name in names}


def handle(event, clients):
    """Read the tenant's External ID item and return an API Gateway response."""
    del event  # Every event gets the same read; only its cost matters here.
    output = clients["dynamodb"].get_item(
        TableName=os.environ["TABLE_NAME"],
        Key={
            "pk": {"S": "TENANT#" + os.environ["BENCH_TENANT"]},
            "sk": {"S": "EXTERNAL_ID"},
        },
        ConsistentRead=False,
    )
    found = "Item" in output
    return {
        "statusCode": 200 if found else 404,
        "headers": {"content-type": "application/json"},
        "body": json.dumps({"found": found}),
    }


def post(connection, path, body):
    connection.request("POST", path, body=body, headers={"Content-Type": "application/json"})
    response = connection.getresponse()
    response.read()


def main():
    clients = build_clients()
    host, port = os.environ["AWS_LAMBDA_RUNTIME_API"].rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port))
    while True:
        connection.request("GET", RUNTIME_PATH + "/invocation/next")
        response = connection.getresponse()
        request_id = response.getheader("Lambda-Runtime-Aws-Request-Id")
        event = json.loads(response.read())
        try:
            result = handle(event, clients)
        except Exception as error:  # The runtime reports any handler failure as an error.
            body = json.dumps({"errorMessage": str(error), "errorType": type(error).__name__})
            post(connection, f"{RUNTIME_PATH}/invocation/{request_id}/error", body)
            continue
        post(connection, f"{RUNTIME_PATH}/invocation/{request_id}/response", json.dumps(result))


if __name__ == "__main__":
    sys.exit(main())
