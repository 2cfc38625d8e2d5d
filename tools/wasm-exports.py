"""Lists or drops exports of a WebAssembly module.

    python3 tools/wasm-exports.py MODULE                       # list the exports
    python3 tools/wasm-exports.py MODULE --drop A,B -o OUT     # OUT: MODULE without exports A, B

Why: a proxy-wasm host calls a module only for the callbacks it exports (proxy-wasm-cpp-host
checks each before calling), while the Rust SDK exports all of them, so every stream pays a VM
entry for callbacks a filter does not use (request and response bodies, trailers, ...). Dropping
those exports after cargo, before `wasm-opt` (which then removes the code only they reached),
keeps the SDK as it is. Python standard library only.
"""
import argparse
import sys


def leb(data, i):
    """An unsigned LEB128 number at data[i:]: (value, next index)."""
    value, shift = 0, 0
    while True:
        byte = data[i]
        i += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, i


def enc(value):
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def sections(data):
    if data[:8] != b"\0asm\x01\0\0\0":
        sys.exit("not a WebAssembly module (version 1)")
    i = 8
    while i < len(data):
        sid = data[i]
        size, body = leb(data, i + 1)
        yield sid, i, body, body + size
        i = body + size


def exports(data, body):
    count, i = leb(data, body)
    out = []
    for _ in range(count):
        length, i = leb(data, i)
        name = data[i : i + length].decode()
        start = i - len(enc(length))
        i += length + 1  # kind byte
        _, i = leb(data, i)
        out.append((name, data[start:i]))
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("module")
    p.add_argument("--drop", default="")
    p.add_argument("-o", "--out")
    a = p.parse_args()
    data = open(a.module, "rb").read()
    drop = {d for d in a.drop.split(",") if d}
    out = bytearray(data[:8])
    for sid, start, body, end in sections(data):
        if sid != 7:
            out += data[start:end]
            continue
        entries = exports(data, body)
        if not a.out:
            print("\n".join(name for name, _ in entries))
            return
        missing = drop - {name for name, _ in entries}
        if missing:
            sys.exit(f"no such exports: {', '.join(sorted(missing))}")
        kept = [raw for name, raw in entries if name not in drop]
        payload = enc(len(kept)) + b"".join(kept)
        out += bytes([7]) + enc(len(payload)) + payload
    open(a.out, "wb").write(out)


if __name__ == "__main__":
    main()
