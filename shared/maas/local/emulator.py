"""moto in server mode, with DynamoDB requests taken one at a time.

DynamoDB applies each write to an item atomically: two concurrent ``ADD`` updates of one counter both count.
moto's DynamoDB backend does not lock, so under concurrent requests (shards finishing together) an update can
be lost. The local runtime therefore serialises DynamoDB calls, as the real service behaves; S3, SQS and
EventBridge stay concurrent. Run as ``python -m maas.local.emulator -H HOST -p PORT``; the local runtime always
gives it 127.0.0.1 (``EMULATOR_HOST``): moto accepts any signature, so whoever reaches it reads everything.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Callable, Iterable
from typing import Any

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import run_simple

WsgiApp = Callable[[dict[str, Any], Any], Iterable[bytes]]


class SerialDynamoDB:
    """A WSGI wrapper that runs DynamoDB requests (``X-Amz-Target: DynamoDB_...``) under one lock."""

    def __init__(self, app: WsgiApp) -> None:
        self._app = app
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if not str(environ.get("HTTP_X_AMZ_TARGET", "")).startswith("DynamoDB_"):
            return self._app(environ, start_response)
        with self._lock:
            return list(self._app(environ, start_response))  # the whole response, inside the lock


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="maas.local.emulator")
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=4566)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    app = SerialDynamoDB(DomainDispatcherApplication(create_backend_app))
    run_simple(args.host, args.port, app, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
