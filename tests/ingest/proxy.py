"""A small HTTP proxy in front of a node that drops connections or answers 5xx on demand."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-authorization",
       "proxy-authenticate", "content-length", "host"}


@dataclass
class Fault:
    """Spoil the next `times` requests whose `METHOD path` matches `pattern`: `"503"` or `"drop"`."""

    pattern: str
    kind: str
    times: int
    hits: list[str] = field(default_factory=list)

    def take(self, request: str) -> bool:
        if self.times > 0 and re.search(self.pattern, request):
            self.times -= 1
            self.hits.append(request)
            return True
        return False


class FaultyProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.faults: list[Fault] = []
        self.requests: list[str] = []
        self._lock = threading.Lock()
        self._http = httpx.Client(base_url=upstream, timeout=60.0)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def fail(self, pattern: str, kind: str, times: int) -> Fault:
        fault = Fault(pattern, kind, times)
        with self._lock:
            self.faults.append(fault)
        return fault

    def _fault_for(self, request: str) -> Fault | None:
        with self._lock:
            self.requests.append(request)
            return next((f for f in self.faults if f.take(request)), None)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    out = b""
                    while True:
                        size = int(self.rfile.readline().strip() or b"0", 16)
                        if size == 0:
                            self.rfile.readline()
                            return out
                        out += self.rfile.read(size)
                        self.rfile.readline()
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _forward(self) -> None:
                body = self._body()
                fault = proxy._fault_for(f"{self.command} {self.path}")
                if fault is not None and fault.kind == "drop":
                    self.close_connection = True
                    self.connection.close()
                    return
                if fault is not None:
                    self._send(503, {"Content-Type": "text/plain"}, b"Service Unavailable")
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
                answer = proxy._http.request(self.command, self.path, headers=headers, content=body)
                kept = {k: v for k, v in answer.headers.items() if k.lower() not in HOP | {"content-encoding"}}
                self._send(answer.status_code, kept, answer.content)

            def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = _forward

        return Handler

    @contextmanager
    def running(self) -> Iterator[FaultyProxy]:
        self._thread.start()
        try:
            yield self
        finally:
            self._server.shutdown()
            self._server.server_close()
            self._http.close()
