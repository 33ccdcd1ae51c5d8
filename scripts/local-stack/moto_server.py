"""Serve moto with the project's extension on 127.0.0.1 only.

Usage: moto_server.py --port PORT

The server emulates STS, IAM, S3 and EventBridge (and every other service moto has) on one
port. ``moto_ext.apply()`` patches moto before the first request, and
``moto_ext.RegionRedirectMiddleware`` wraps the WSGI application. The server starts with IAM
checks off, which is moto's default.

Accounts and identities, seeded by ``seed.py`` once the server responds:

* The platform account 111111111111 contains the platform principal, the role
  ``arn:aws:iam::111111111111:role/s3-endpoints-platform``. The service runs with that role's
  session credentials. Its trust policy trusts the platform account, and its permissions
  policy allows ``sts:AssumeRole`` and ``sts:TagSession`` on any role, and EventBridge.
* The customer accounts 222222222222 and 333333333333 hold the customers' buckets and roles.
* Every account has an IAM user ``stack-admin`` with an access key and an inline allow-all
  policy. The seeding creates them while IAM checks are off, addressing each account with
  moto's ``x-moto-account-id`` header. Then it turns the checks on (``POST
  /moto-api/reset-auth`` with ``Content-Type: text/plain`` and body ``0``) and assumes the
  platform role with the platform account's admin key for 12 hours.

Why this design: moto picks a request's account from its access key, so an access key belongs
to the account that created it, and assumed-role credentials belong to the role's account.
That lets tests act in several accounts at once without moto's ``MOTO_ACCOUNT_ID``, which
would pin every request to one account. Tests never touch the global auth switch: they create
customer buckets, objects and roles (with any trust and permissions policy) with an
account's admin key, and they call AWS as the platform principal with its session
credentials. Unique resource names keep parallel tests apart.

The seeded identities reach the tests through ``.local/stack.env``, which ``stack.sh start``
writes.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path
from typing import Any

from werkzeug.serving import make_server

sys.path.insert(0, str(Path(__file__).resolve().parent))

import moto_ext  # noqa: E402  (needs the path entry above)
from moto.moto_server.werkzeug_app import (  # noqa: E402
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)

LOOPBACK_HOST = "127.0.0.1"


def _exit_on_signal(signum: int, _frame: Any) -> None:
    logging.info("received signal %d, stopping", signum)
    sys.exit(0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--port", type=int, required=True, help="TCP port to listen on at 127.0.0.1"
    )
    args = parser.parse_args()

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    moto_ext.apply()
    app = moto_ext.RegionRedirectMiddleware(
        DomainDispatcherApplication(create_backend_app)
    )
    server = make_server(
        LOOPBACK_HOST,
        args.port,
        app,
        threaded=True,
        request_handler=MotoRequestHandler,
    )
    signal.signal(signal.SIGTERM, _exit_on_signal)
    signal.signal(signal.SIGINT, _exit_on_signal)
    logging.info("moto with moto_ext listening on %s:%d", LOOPBACK_HOST, args.port)
    try:
        server.serve_forever()
    finally:
        server.server_close()
        logging.info("moto stopped")


if __name__ == "__main__":
    main()
