"""One Lambda function instance: a process that imports the handler once and serves invocations.

It is started by ``maas.local.functions`` with a socket whose fd is its first argument; each message is one
JSON document framed by ``multiprocessing.connection`` (bytes only, nothing unpickled). Module state lives as
long as the process, exactly as in a warm Lambda execution environment.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import sys
import time
import traceback
import uuid
from multiprocessing.connection import Connection
from typing import Any


class LocalLambdaContext:
    """What the Lambda runtime hands a handler as ``context``."""

    def __init__(self, request_id: str, deadline: float) -> None:
        self.function_name = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"))
        region = os.environ.get("AWS_REGION", "us-east-1")
        self.invoked_function_arn = f"arn:aws:lambda:{region}:123456789012:function:{self.function_name}"
        self.aws_request_id = request_id
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.log_stream_name = "local"
        self._deadline = deadline

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def _load_handler(spec: str) -> Any:
    module_name, _, function_name = spec.rpartition(".")
    return getattr(importlib.import_module(module_name), function_name)


def serve(conn: Connection, handler_spec: str, timeout: float) -> None:
    try:
        handler = _load_handler(handler_spec)
    except Exception as exc:
        traceback.print_exc()
        conn.send_bytes(json.dumps({"ready": False, "error": f"{type(exc).__name__}: {exc}"}).encode())
        return
    conn.send_bytes(b'{"ready": true}')
    while True:
        try:
            message = conn.recv_bytes()
        except EOFError:
            return
        request = json.loads(message)
        request_id = request.get("request_id") or str(uuid.uuid4())
        context = LocalLambdaContext(request_id, time.monotonic() + timeout)
        try:
            result = handler(request["event"], context)
            reply: dict[str, Any] = {"ok": True, "result": result}
        except Exception as exc:
            traceback.print_exc()
            reply = {"ok": False, "errorType": type(exc).__name__, "errorMessage": str(exc)}
        sys.stdout.flush()
        conn.send_bytes(json.dumps(reply, default=str).encode())


def main() -> None:
    fd, code_dir, handler_spec, timeout = int(sys.argv[1]), sys.argv[2], sys.argv[3], float(sys.argv[4])
    # Then the layers' folders, when run from a build: Lambda's bootstrap puts the code and /opt/python first on
    # sys.path itself, so a child process the function starts does not inherit them.
    sys.path[0:0] = [code_dir, *sys.argv[5:]]
    # Ctrl-C in the terminal reaches the whole process group; the supervisor stops instances itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    serve(Connection(fd), handler_spec, timeout)


if __name__ == "__main__":
    main()
