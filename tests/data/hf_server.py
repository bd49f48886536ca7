"""A loopback stand-in for the Hub's dataset endpoints that `huggingface_hub` uses to list and download.

Serves one local folder as dataset repo `owner/name` at one revision:

    GET  /api/datasets/REPO/tree/REV?recursive=True   the file listing (path, size, oid)
    HEAD /datasets/REPO/resolve/REV/PATH              X-Repo-Commit, ETag, Content-Length
    GET  /datasets/REPO/resolve/REV/PATH              the file's bytes

and counts the file downloads (GETs) per path. Any other revision or path is a 404.

    with HubServer(folder, "owner/name", "abc123") as hub:   # HF_ENDPOINT points at it while open
        ...; hub.downloads  # Counter {path: GETs}
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Self
from urllib.parse import unquote, urlsplit


class HubServer:
    def __init__(self, folder: Path, repo: str, revision: str) -> None:
        self.folder, self.repo, self.revision = folder, repo, revision
        self.downloads: Counter = Counter()
        self.listings = 0
        self.lock = threading.Lock()
        self._saved: str | None = None
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_) -> None:
                pass

            def do_HEAD(self) -> None:
                hub._serve(self, body=False)

            def do_GET(self) -> None:
                hub._serve(self, body=True)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)

    def _files(self) -> dict[str, Path]:
        return {p.relative_to(self.folder).as_posix(): p for p in sorted(self.folder.rglob("*")) if p.is_file()}

    def _send(self, h: BaseHTTPRequestHandler, status: int, data: bytes, headers: dict, body: bool) -> None:
        h.send_response(status)
        for k, v in {**headers, "Content-Length": str(len(data))}.items():
            h.send_header(k, v)
        h.end_headers()
        if body:
            h.wfile.write(data)

    def _serve(self, h: BaseHTTPRequestHandler, body: bool) -> None:
        path = unquote(urlsplit(h.path).path)
        tree = f"/api/datasets/{self.repo}/tree/{self.revision}"
        resolve = f"/datasets/{self.repo}/resolve/{self.revision}/"
        files = self._files()
        if path == tree and body:
            with self.lock:
                self.listings += 1
            doc = [{"type": "file", "path": n, "size": p.stat().st_size,
                    "oid": hashlib.sha1(p.read_bytes()).hexdigest()} for n, p in files.items()]
            return self._send(h, 200, json.dumps(doc).encode(), {"Content-Type": "application/json"}, body)
        name = path.removeprefix(resolve) if path.startswith(resolve) else None
        if name not in files:
            return self._send(h, 404, b'{"error": "not found"}', {"X-Error-Code": "EntryNotFound"}, body)
        data = files[name].read_bytes()
        if body:
            with self.lock:
                self.downloads[name] += 1
        etag = f'"{hashlib.sha1(data).hexdigest()}"'
        return self._send(h, 200, data, {"X-Repo-Commit": self.revision, "ETag": etag}, body)

    def __enter__(self) -> Self:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self._saved = os.environ.get("HF_ENDPOINT")
        os.environ["HF_ENDPOINT"] = f"http://127.0.0.1:{self.server.server_address[1]}"
        return self

    def __exit__(self, *_) -> None:
        self.server.shutdown()
        self.server.server_close()
        if self._saved is None:
            os.environ.pop("HF_ENDPOINT", None)
        else:
            os.environ["HF_ENDPOINT"] = self._saved
