"""A tiny real HTTP service for the demo: ``/health`` answers 200 or 503 from its state file.

Run: ``python -m grace.demo.service PORT STATE_FILE``. The state file holds ``{"healthy": bool}``
and is read on every request, so repairing the file heals the service without a restart.
"""

from __future__ import annotations

import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def _healthy(state_file: Path) -> bool:
    try:
        return bool(json.loads(state_file.read_text(encoding="utf-8")).get("healthy"))
    except (OSError, ValueError):
        return False


def serve(port: int, state_file: Path) -> None:
    """Serve until killed."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path != "/health":
                self.send_error(404)
                return
            ok = _healthy(state_file)
            body = json.dumps({"status": "ok" if ok else "degraded"}).encode()
            self.send_response(200 if ok else 503)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return

    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


if __name__ == "__main__":
    serve(int(sys.argv[1]), Path(sys.argv[2]))
