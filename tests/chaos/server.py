"""A hostile HTTP peer for the shell fuzz test: every answer is drawn at random.

The filter calls it as a JWKS endpoint, an introspection endpoint and an external authorizer.
Each request gets, from a generator seeded on the command line: a status (common, odd or out of
range), headers with names and values of any bytes (CR and LF only where they still frame a
line), and a body that is a key set, an introspection answer, broken JSON, random bytes, a large
document or nothing; sometimes the connection is closed without an answer or the answer is late.
Usage: server.py PORT SEED. Prints "ready PORT" once listening. Standard library only.
"""

import json
import random
import socket
import sys
import threading
import time

STATUSES = [200, 200, 200, 200, 201, 204, 301, 302, 400, 401, 403, 404, 429, 500, 502, 503, 99, 600]
NAMES = [b"content-type", b"x-ext-authz-note", b"x-ext-authz-user", b"set-cookie", b"location",
         b"www-authenticate", b"x-a", b"cache-control"]


def any_bytes(rng, n, framing_safe=True):
    data = bytes(rng.randrange(256) for _ in range(n))
    if framing_safe:
        data = data.replace(b"\r", b"").replace(b"\n", b"")
    return data


def body(rng):
    kind = rng.randrange(9)
    if kind == 0:
        return b""
    if kind == 1:
        return json.dumps({"keys": [{"kty": "RSA", "kid": "k", "use": "sig", "n": "AQAB" * rng.randrange(1, 100),
                                     "e": "AQAB"},
                                    {"kty": "EC", "crv": "P-256", "x": "AAAA", "y": "AAAA"},
                                    {"kty": rng.choice(["OKP", "oct", 7, None]), "x": "x"}]}).encode()
    if kind == 2:
        return json.dumps({"active": rng.choice([True, False, "true", 1, None]), "sub": "s\u00e9",
                           "scope": rng.choice(["read", "read admin", 7, None]),
                           "aud": rng.choice([["api"], "api", 5, None]),
                           "exp": rng.choice([time.time() + 60, -1, 1e308, "soon", None])}).encode()
    if kind == 3:
        return b'{"keys": [' + any_bytes(rng, rng.randrange(200), framing_safe=False)
    if kind == 4:
        return any_bytes(rng, rng.randrange(2000), framing_safe=False)
    if kind == 5:
        return b"[" * rng.randrange(1, 5000)
    if kind == 6:
        return b'{"keys": []}'
    if kind == 7:
        return b"x" * rng.choice([1, 1 << 16, 1 << 20])
    return json.dumps({"active": True, "sub": "robot", "scope": "read", "aud": ["api"],
                       "exp": time.time() + 60}).encode()


def answer(conn, rng):
    conn.settimeout(10)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip() or 0)
    while len(rest) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        rest += chunk
    fate = rng.randrange(20)
    if fate == 0:
        return  # closed without an answer
    if fate == 1:
        time.sleep(rng.choice([0.2, 1.5, 4]))
    payload = body(rng)
    status = rng.choice(STATUSES)
    out = [b"HTTP/1.1 %d Chaos" % status]
    for _ in range(rng.randrange(5)):
        name = rng.choice(NAMES) if rng.randrange(4) else any_bytes(rng, rng.randrange(1, 12))
        out.append(name + b": " + any_bytes(rng, rng.randrange(40)))
    out.append(b"content-length: %d" % len(payload))
    out.append(b"connection: close")
    conn.sendall(b"\r\n".join(out) + b"\r\n\r\n" + payload)


def serve(conn, seed):
    try:
        answer(conn, random.Random(seed))
    except OSError:
        pass
    finally:
        conn.close()


def main():
    port, seed = int(sys.argv[1]), int(sys.argv[2])
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(128)
    print(f"ready {port}", flush=True)
    master = random.Random(seed)
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=serve, args=(conn, master.getrandbits(64)), daemon=True).start()


if __name__ == "__main__":
    main()
