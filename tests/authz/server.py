"""An HTTP external authorizer for the tests, in the manner of Istio's ext-authz sample.

The verdict comes from the request's `x-ext-authz` header:
  allow    -> 200, with x-ext-authz-* headers describing what it was asked (for upstream)
  slow     -> the same after 3 s (past the provider timeout in the tests)
  redirect -> 302 to a login page
  error    -> 500
  latin1   -> 200 with a header value that is not UTF-8 (`caf\\xE9`, obs-text)
  anything else, or missing -> 403 with a body and headers
Usage: server.py PORT. Prints "ready PORT" once listening.
"""

import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Authorizer(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def handle_any(self):
        length = int(self.headers.get("content-length") or 0)
        if length:
            self.rfile.read(length)
        verdict = self.headers.get("x-ext-authz", "")
        seen = [
            ("x-ext-authz-saw-method", self.command),
            ("x-ext-authz-saw-path", self.path),
            ("x-ext-authz-saw-host", self.headers.get("host", "")),
            ("x-ext-authz-saw-headers", ",".join(sorted(k.lower() for k in self.headers.keys()))),
        ]
        if verdict == "slow":
            time.sleep(3)
        if verdict in ("allow", "slow"):
            user = self.headers.get("x-user", "anonymous")
            self.reply(200, seen + [("x-ext-authz-check-result", "allowed"),
                                    ("x-ext-authz-user", user),
                                    ("x-not-forwarded", "1")], b"")
        elif verdict == "latin1":
            # http.server writes header values as Latin-1: the byte 0xE9, not UTF-8.
            self.reply(200, seen + [("x-ext-authz-note", "caf\xe9")], b"")
        elif verdict == "redirect":
            self.reply(302, [("location", "https://login.example.com/?rd=" + self.path)], b"")
        elif verdict == "error":
            self.reply(500, [], b"authorizer broke")
        else:
            body = b"denied by ext_authz for not found header `x-ext-authz: allow` in the request"
            self.reply(403, [("x-ext-authz-check-result", "denied"),
                             ("x-internal-secret", "must-not-leak"),
                             ("content-type", "text/plain")], body)

    def reply(self, status, headers, body):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = handle_any

    def log_message(self, fmt, *args):
        sys.stderr.write("authz: " + (fmt % args) + "\n")


if __name__ == "__main__":
    port = int(sys.argv[1])
    server = ThreadingHTTPServer(("127.0.0.1", port), Authorizer)
    server.daemon_threads = True
    print(f"ready {port}", flush=True)
    server.serve_forever()
