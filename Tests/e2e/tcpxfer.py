#!/usr/bin/env python3
"""Checksummed TCP transfer for the e2e suites.

    tcpxfer.py recv BIND_ADDR PORT          accept one connection, hash what arrives,
                                            send back "<sha256> <bytes>\\n" and exit
    tcpxfer.py send DST_ADDR PORT MEGABYTES stream random bytes, half-close, read the
                                            receiver's digest and compare; exit 0 if equal

Every socket operation has a timeout, so a stalled tunnel ends in a failure, not a hang.
"""
import hashlib
import os
import socket
import sys
import time

CHUNK = 64 * 1024
TIMEOUT = 30.0


def family_of(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def recv(bind, port):
    srv = socket.socket(family_of(bind), socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((bind, port))
    srv.listen(1)
    srv.settimeout(120.0)
    conn, peer = srv.accept()
    conn.settimeout(TIMEOUT)
    digest = hashlib.sha256()
    total = 0
    while True:
        data = conn.recv(1 << 20)
        if not data:
            break
        digest.update(data)
        total += len(data)
    line = f"{digest.hexdigest()} {total}\n"
    conn.sendall(line.encode())
    conn.close()
    srv.close()
    print(f"received from {peer[0]}: {line.strip()}")
    return 0


def send(dst, port, megabytes):
    total = int(megabytes * 1024 * 1024)
    sock = socket.create_connection((dst, port), timeout=TIMEOUT)
    digest = hashlib.sha256()
    sent = 0
    start = time.monotonic()
    while sent < total:
        chunk = os.urandom(min(CHUNK, total - sent))
        digest.update(chunk)
        sock.sendall(chunk)
        sent += len(chunk)
    sock.shutdown(socket.SHUT_WR)
    reply = b""
    while not reply.endswith(b"\n"):
        data = sock.recv(256)
        if not data:
            break
        reply += data
    elapsed = time.monotonic() - start
    sock.close()
    mine = f"{digest.hexdigest()} {sent}"
    theirs = reply.decode(errors="replace").strip()
    rate = sent * 8 / elapsed / 1e6 if elapsed > 0 else 0.0
    if theirs == mine:
        print(f"{sent >> 20} MiB to {dst}, sha256 matches ({mine[:16]}...), {rate:.0f} Mbit/s")
        return 0
    print(f"sha256 mismatch: sent {mine}, receiver reported {theirs or 'nothing'}")
    return 1


def main(argv):
    try:
        if len(argv) == 4 and argv[1] == "recv":
            return recv(argv[2], int(argv[3]))
        if len(argv) == 5 and argv[1] == "send":
            return send(argv[2], int(argv[3]), float(argv[4]))
    except OSError as err:
        print(f"{argv[1]}: {err}")
        return 1
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
