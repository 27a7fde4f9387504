#!/usr/bin/env python3
"""A stand-in for Raptorflow's Python monolith (seed 003), on a port of its own: what the gateway's
catch-all route sends everything no service has taken over yet. It answers every request with a
JSON document saying so, and GET /health.

    python3 tools/raptorflow_monolith.py PORT
"""
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(min(length, 1 << 20))
        if self.path in ("/health", "/ready"):
            status, body = 200, {"status": "UP", "service": "raptorflow-monolith"}
        else:
            status, body = 404, {"service": "raptorflow-monolith (stand-in)", "method": self.command,
                                 "path": self.path, "detail": "not moved to a service yet"}
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = answer


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
