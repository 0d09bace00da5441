"""A local HTTP server for the ingest tests: serves the sample corpus with ETag/Last-Modified
(304 on a match) and a few scripted misbehaviours under /faults/."""

from __future__ import annotations

import email.utils
import hashlib
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from shared.sample_corpus import CORPUS_DIR

# What /faults/<name> answers on its n-th request (0-based); past the list, the last entry.
Script = list[str]  # "500" | "429" | "timeout" | "ok:<corpus path>" | "redirect:<url>"


@dataclass
class CorpusServer:
    root: Path = CORPUS_DIR
    scripts: dict[str, Script] = field(default_factory=dict)
    hits: Counter[str] = field(default_factory=Counter)
    statuses: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    body_bytes: Counter[str] = field(default_factory=Counter)
    stall_s: float = 3.0
    _server: ThreadingHTTPServer | None = None

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.server_address[1])

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def start(self) -> CorpusServer:
        handler = _handler_for(self)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def _handler_for(server: CorpusServer) -> Callable[..., BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # quiet
            return

        def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
            path = self.path.split("?")[0]
            server.statuses[path].append(status)
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if body:
                self.wfile.write(body)
                server.body_bytes[path] += len(body)

        def _serve_file(self, relative: str) -> None:
            file = (server.root / relative).resolve()
            if not file.is_file() or server.root.resolve() not in file.parents:
                self._send(404, b"not found")
                return
            content = file.read_bytes()
            etag = '"' + hashlib.sha1(content).hexdigest()[:16] + '"'
            modified = email.utils.formatdate(int(file.stat().st_mtime), usegmt=True)
            if self.headers.get("If-None-Match") == etag or (
                not self.headers.get("If-None-Match") and self.headers.get("If-Modified-Since") == modified
            ):
                self._send(304, headers={"ETag": etag, "Last-Modified": modified})
                return
            # The corpus's GBK page is served with the same lie as its <meta>: charset=utf-8.
            kind = "text/html; charset=utf-8" if file.suffix == ".html" else "application/xml"
            if file.suffix == ".json":
                kind = "application/json"
            self._send(200, content, {"Content-Type": kind, "ETag": etag, "Last-Modified": modified})

        def do_GET(self) -> None:
            path = self.path.split("?")[0]
            server.hits[path] += 1
            if path.startswith("/faults/"):
                script = server.scripts.get(path[len("/faults/") :], ["404"])
                step = script[min(server.hits[path] - 1, len(script) - 1)]
                if step == "timeout":
                    time.sleep(server.stall_s)
                    self._send(200, b"<rss></rss>")
                elif step == "429":
                    self._send(429, b"slow down", {"Retry-After": "1"})
                elif step.startswith("ok:"):
                    self._serve_file(step[3:])
                elif step.startswith("redirect:"):
                    self._send(302, headers={"Location": step[len("redirect:") :]})
                else:
                    self._send(int(step), b"error")
                return
            self._serve_file(path.lstrip("/"))

    return Handler
