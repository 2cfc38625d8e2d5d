"""A TLS front for the test identity provider: GET requests on https://localhost:PORT are passed
to the provider over plain HTTP, with the server certificate given on the command line.

Used to prove that rendered https clusters verify the server: trusted with the test CA, refused
without it. Usage: server.py PORT CERT KEY UPSTREAM_URL. Prints "ready PORT". Standard library.
"""

import ssl
import sys
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Front(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        try:
            with urllib.request.urlopen(UPSTREAM + self.path, timeout=5) as r:
                status, body, kind = r.status, r.read(), r.headers.get("content-type", "")
        except OSError as e:
            status, body, kind = 502, str(e).encode(), "text/plain"
        self.send_response(status)
        self.send_header("content-type", kind)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        sys.stderr.write("tls-front: " + (fmt % args) + "\n")


if __name__ == "__main__":
    port, cert, key, UPSTREAM = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4].rstrip("/")
    server = ThreadingHTTPServer(("127.0.0.1", port), Front)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.daemon_threads = True
    print(f"ready {port}", flush=True)
    server.serve_forever()
