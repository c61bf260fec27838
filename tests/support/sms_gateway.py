"""A real HTTP SMS gateway on 127.0.0.1 for tests: it takes the notification adapter's
JSON POSTs (node/notify/sms.py) and keeps them; `codes_to` reads the sign-in codes it was
asked to text (from the message text, as a person reads it)."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_CODE = re.compile(r"(?:码为|code is )(\d{6})")


@dataclass
class Gateway:
    url: str = ""
    bodies: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def codes(self) -> list[dict[str, Any]]:
        """The sign-in code messages (receipts and replies are not codes)."""
        with self.lock:
            return [b for b in self.bodies if "code" in b["params"]]

    def codes_to(self, phone: str) -> list[str]:
        texts = [b["text"] for b in self.codes() if b["phone"] == phone]
        return [m.group(1) for t in texts if (m := _CODE.search(t))]


@contextmanager
def sms_gateway() -> Iterator[Gateway]:
    state = Gateway()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with state.lock:
                state.bodies.append({**body, "key": self.headers.get("Idempotency-Key")})
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/sms"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
