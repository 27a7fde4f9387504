#!/usr/bin/env python3
"""A stand-in OpenTelemetry collector for tests and benchmarks: an HTTP server on loopback that
takes OTLP/HTTP exports (POST /v1/traces) and keeps them, answering 200 (or what it is told to,
after a delay if told to); with keep=False it reads and discards them (a sink for benchmarks).
Decoding is left to the caller: tools/npm/decode-otlp.cjs for protobuf, json for OTLP/JSON.

    collector = Collector().start(); ...; collector.bodies(); collector.stop()
    python3 tests/support/otlp_collector.py PORT        # a discarding sink until killed
"""
import http.server
import sys
import threading
import time


class Collector:
    def __init__(self, port=0, keep=True):
        self.keep = keep
        self.status = 200
        self.delay = 0.0
        self.exports = []  # (path, content type, body)
        self.requests = 0
        self._lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if outer.delay:
                    time.sleep(outer.delay)
                with outer._lock:
                    outer.requests += 1
                    if outer.keep:
                        outer.exports.append((self.path, self.headers.get("Content-Type"), body,
                                              dict(self.headers)))
                self.send_response(outer.status)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.endpoint = f"http://127.0.0.1:{self.port}"

    def start(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def bodies(self):
        with self._lock:
            return list(self.exports)


if __name__ == "__main__":
    c = Collector(int(sys.argv[1]) if len(sys.argv) > 1 else 0, keep=False)
    print(c.endpoint, flush=True)
    c.server.serve_forever()
