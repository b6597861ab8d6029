#!/usr/bin/env python3
"""Bulk TCP traffic for the payment suite, with byte counts taken at the server.

    paysink.py sink BIND PORT COUNTFILE     accept connections (any number, until killed);
                                            count every byte received and keep COUNTFILE at
                                            "<total bytes> <connections>"
    paysink.py source BIND PORT             accept connections (until killed); stream zeros
                                            to each until it closes
    paysink.py send DST PORT MEGABYTES [SECONDS] [--persist]
                                            send zeros until MEGABYTES are sent, SECONDS pass
                                            or a send stalls for 10 s (with --persist: connect
                                            again after a stall or error, until SECONDS pass);
                                            print the count; exit 0 only if everything was sent
    paysink.py recv DST PORT MEGABYTES [SECONDS]
                                            read from a source until MEGABYTES arrived, SECONDS
                                            pass or the stream stalls for 10 s; print the
                                            count; exit 0 only if everything arrived

send and recv print their count also when stopped by SIGTERM or SIGINT. Every socket
operation has a timeout, so a paused tunnel ends in a count, not a hang.
"""
import os
import signal
import socket
import sys
import threading
import time

CHUNK = 64 * 1024
STALL = 10.0


class Stopped(Exception):
    """SIGTERM or SIGINT: stop and still print the count."""


def on_signal(_sig, _frame):
    raise Stopped()


def listener(bind, port):
    srv = socket.socket(socket.AF_INET6 if ":" in bind else socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((bind, port))
    srv.listen(16)
    return srv


def sink(bind, port, countfile):
    srv = listener(bind, port)
    lock = threading.Lock()
    state = {"total": 0, "conns": 0}

    def publish():
        tmp = countfile + ".tmp"
        with open(tmp, "w") as f:
            f.write(f"{state['total']} {state['conns']}\n")
        os.replace(tmp, countfile)

    with lock:
        publish()

    def serve(conn):
        conn.settimeout(600)
        try:
            while True:
                data = conn.recv(1 << 20)
                if not data:
                    break
                with lock:
                    state["total"] += len(data)
                    publish()
        except OSError:
            pass
        finally:
            conn.close()

    while True:
        conn, _ = srv.accept()
        with lock:
            state["conns"] += 1
            publish()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


def source(bind, port):
    srv = listener(bind, port)
    zeros = bytes(CHUNK)

    def serve(conn):
        conn.settimeout(600)
        try:
            while True:
                conn.sendall(zeros)
        except OSError:
            pass
        finally:
            conn.close()

    while True:
        conn, _ = srv.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


def send(dst, port, megabytes, seconds, persist=False):
    total = int(megabytes * 1024 * 1024)
    deadline = time.monotonic() + seconds
    sent = 0
    connections = 0
    why = ""
    zeros = bytes(CHUNK)
    try:
        while sent < total and time.monotonic() < deadline:
            sock = None
            try:
                sock = socket.create_connection((dst, port), timeout=STALL)
                connections += 1
                while sent < total and time.monotonic() < deadline:
                    n = min(CHUNK, total - sent)
                    sock.sendall(zeros[:n])
                    sent += n
                why = "all sent" if sent >= total else f"stopped after {seconds} s"
            except OSError as err:
                why = f"stopped: {err}"
                if not persist:
                    break
                time.sleep(0.5)
            finally:
                if sock is not None:
                    sock.close()
    except Stopped:
        why = "stopped by a signal"
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    print(f"sent {sent} bytes to {dst}:{port} over {connections} connection(s) ({why})")
    return 0 if sent >= total else 1


def recv(dst, port, megabytes, seconds):
    total = int(megabytes * 1024 * 1024)
    deadline = time.monotonic() + seconds
    got = 0
    try:
        sock = socket.create_connection((dst, port), timeout=STALL)
        while got < total and time.monotonic() < deadline:
            data = sock.recv(1 << 20)
            if not data:
                break
            got += len(data)
        sock.close()
        why = "all received" if got >= total else "stream ended or time up"
    except Stopped:
        why = "stopped by a signal"
    except OSError as err:
        why = f"stopped: {err}"
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    print(f"received {got} bytes from {dst}:{port} ({why})")
    return 0 if got >= total else 1


def main(argv):
    if len(argv) >= 4 and argv[0] == "sink":
        sink(argv[1], int(argv[2]), argv[3])
    elif len(argv) >= 3 and argv[0] == "source":
        source(argv[1], int(argv[2]))
    elif len(argv) >= 4 and argv[0] in ("send", "recv"):
        persist = "--persist" in argv
        argv = [a for a in argv if a != "--persist"]
        seconds = float(argv[4]) if len(argv) > 4 else 120.0
        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        if argv[0] == "send":
            return send(argv[1], int(argv[2]), float(argv[3]), seconds, persist)
        return recv(argv[1], int(argv[2]), float(argv[3]), seconds)
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
