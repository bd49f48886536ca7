"""A loopback HTTP server speaking the slice of the Kubernetes API that the RayJob launcher uses.

RayJob create/get/delete (ray.io/v1) and pod list + pod log (core/v1). The RayJob's status
follows a scripted list (one entry per GET, the last repeats); each pod log GET returns one
more line. Records every request so tests can assert on creates and deletes.
"""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

RAYJOB = re.compile(r"^/apis/ray.io/v1/namespaces/([^/]+)/rayjobs(?:/([^/?]+))?")
PODS = re.compile(r"^/api/v1/namespaces/([^/]+)/pods(?:/([^/?]+)/log)?")


class FakeKubernetes:
    def __init__(self, statuses: list[dict], log_lines: list[str]) -> None:
        self.statuses, self.log_lines = statuses, log_lines
        self.requests: list[tuple[str, str]] = []
        self.objects: dict[str, dict] = {}
        self.gets = 0
        self.log_reads = 0
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.host = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                return

            def _send(self, code: int, body, content_type: str = "application/json") -> None:
                data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                fake.requests.append(("POST", self.path))
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.objects[body["metadata"]["name"]] = body
                self._send(201, body)

            def do_DELETE(self) -> None:
                fake.requests.append(("DELETE", self.path))
                name = RAYJOB.match(self.path).group(2)
                fake.objects.pop(name, None)
                self._send(200, {"kind": "Status", "apiVersion": "v1", "status": "Success"})

            def do_GET(self) -> None:
                fake.requests.append(("GET", self.path))
                if m := RAYJOB.match(self.path):
                    status = fake.statuses[min(fake.gets, len(fake.statuses) - 1)]
                    fake.gets += 1
                    self._send(200, dict(fake.objects[m.group(2)], status=status))
                elif (m := PODS.match(self.path)) and m.group(2):
                    fake.log_reads += 1
                    self._send(200, "".join(f"{line}\n" for line in fake.log_lines[: fake.log_reads]), "text/plain")
                elif m:
                    pod = {"metadata": {"name": "sft-run-submitter-x", "namespace": m.group(1)}}
                    self._send(200, {"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": [pod]})
                else:
                    self._send(404, {"kind": "Status", "code": 404})

        return Handler
