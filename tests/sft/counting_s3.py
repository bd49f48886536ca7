"""A loopback S3 server (moto) that counts what it serves: GET requests and body bytes per key.

    with CountingS3() as s3:            # AWS_* variables point boto3 at it while open
        ...
        s3.reset(); run(); s3.get_bytes  # bytes served by GETs since reset

Used by the ingest test and benchmarks/data_scale.py to measure reads on the server side.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import Counter
from typing import Self

from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server

_ENV = ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")


class CountingS3(ThreadedMotoServer):
    def __init__(self) -> None:
        super().__init__("127.0.0.1", 0, verbose=False)
        self.lock = threading.Lock()
        self.gets: Counter = Counter()  # key -> GET requests
        self.get_bytes = 0
        self.key_bytes: Counter = Counter()  # key -> bytes served by GETs
        self._saved: dict[str, str | None] = {}

    def _count(self, app):
        def counted(environ, start_response):
            body = b"".join(app(environ, start_response))
            if environ["REQUEST_METHOD"] == "GET" and "list-type" not in environ.get("QUERY_STRING", ""):
                with self.lock:
                    self.gets[environ["PATH_INFO"]] += 1
                    self.get_bytes += len(body)
                    self.key_bytes[environ["PATH_INFO"]] += len(body)
            return [body]

        return counted

    def _server_entry(self) -> None:
        app = self._count(DomainDispatcherApplication(create_backend_app))
        self._server = make_server(self._ip_address, self._port, app, True, request_handler=MotoRequestHandler)
        self._server_ready_event.set()
        self._server.serve_forever()

    def reset(self) -> None:
        with self.lock:
            self.gets.clear()
            self.get_bytes = 0
            self.key_bytes.clear()

    def __enter__(self) -> Self:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
        self.start()
        host, port = self.get_host_and_port()
        self._saved = {k: os.environ.get(k) for k in _ENV}
        os.environ.update(AWS_ENDPOINT_URL=f"http://{host}:{port}", AWS_ACCESS_KEY_ID="test-only-key",
                          AWS_SECRET_ACCESS_KEY="test-only-value", AWS_DEFAULT_REGION="us-east-1")
        return self

    def __exit__(self, *_) -> None:
        self.stop()
        for k, v in self._saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
