#!/usr/bin/env python3
"""A tiny DNS server and client for the gateway suite.

    dnsd.py serve [--a ADDR] [--aaaa ADDR] [--port N] [--log FILE] BIND_ADDR...
        Answer every query on UDP and TCP at each BIND_ADDR (v4 or v6; the address may
        appear later, the sockets are bound with IP_FREEBIND): an A question gets ADDR
        (--a), an AAAA question gets --aaaa (if given), anything else an empty NOERROR
        answer. One line per query on stdout and in the --log file:
            query NAME TYPE from ADDR udp|tcp
        Runs until SIGTERM/SIGINT.

    dnsd.py query SERVER NAME [--tcp] [--type A|AAAA] [--timeout SECONDS] [--port N]
        Ask SERVER (any address: the gateway may redirect it) for NAME and print each
        address of the answer on its own line, then "answered by SERVER:PORT over udp|tcp".
        A UDP reply is only accepted from SERVER:PORT itself, with the query's ID.
        Exit status 0 with at least one address, 1 on timeout, error or an empty answer.

Only the standard library; every socket operation has a timeout.
"""
import argparse
import ipaddress
import os
import select
import signal
import socket
import struct
import sys
import threading
import time

TYPES = {"A": 1, "AAAA": 28}
IP_FREEBIND = getattr(socket, "IP_FREEBIND", 15)


def family_of(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def encode_name(name):
    out = b""
    for label in name.strip(".").split("."):
        raw = label.encode("ascii")
        if not 0 < len(raw) < 64:
            raise ValueError(f"bad label in {name!r}")
        out += bytes([len(raw)]) + raw
    return out + b"\0"


def decode_name(msg, offset):
    """Returns (name, offset after the name); follows compression pointers (bounded)."""
    labels = []
    end = None
    for _ in range(128):
        if offset >= len(msg):
            raise ValueError("name runs past the message")
        length = msg[offset]
        if length == 0:
            offset += 1
            break
        if length & 0xC0 == 0xC0:
            if offset + 1 >= len(msg):
                raise ValueError("truncated pointer")
            if end is None:
                end = offset + 2
            offset = ((length & 0x3F) << 8) | msg[offset + 1]
            continue
        labels.append(msg[offset + 1:offset + 1 + length].decode("ascii", "replace"))
        offset += 1 + length
    else:
        raise ValueError("name too long or a pointer loop")
    return ".".join(labels), (end if end is not None else offset)


def build_query(qid, name, qtype):
    header = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0)  # RD
    return header + encode_name(name) + struct.pack("!HH", qtype, 1)


# ---------------------------------------------------------------------------- server

class Server:
    def __init__(self, answer_a, answer_aaaa, log_path):
        self.answer_a = answer_a
        self.answer_aaaa = answer_aaaa
        self.log_file = open(log_path, "a", buffering=1) if log_path else None
        self.lock = threading.Lock()

    def log(self, line):
        with self.lock:
            print(line, flush=True)
            if self.log_file:
                self.log_file.write(line + "\n")

    def respond(self, query, peer, proto):
        if len(query) < 12:
            return None
        qid, flags, qdcount = struct.unpack("!HHH", query[:6])
        if flags & 0x8000 or qdcount != 1:
            return None
        try:
            name, off = decode_name(query, 12)
        except ValueError:
            return None
        if off + 4 > len(query):
            return None
        qtype, qclass = struct.unpack("!HH", query[off:off + 4])
        question = query[12:off + 4]
        tname = {v: k for k, v in TYPES.items()}.get(qtype, str(qtype))
        self.log(f"query {name} {tname} from {peer} {proto}")
        answers = []
        if qtype == 1 and self.answer_a:
            answers.append((1, ipaddress.IPv4Address(self.answer_a).packed))
        elif qtype == 28 and self.answer_aaaa:
            answers.append((28, ipaddress.IPv6Address(self.answer_aaaa).packed))
        rflags = 0x8000 | 0x0400 | (flags & 0x0100) | 0x0080  # QR, AA, RD copied, RA
        out = struct.pack("!HHHHHH", qid, rflags, 1, len(answers), 0, 0) + question
        for rtype, rdata in answers:
            out += struct.pack("!HHHIH", 0xC00C, rtype, qclass, 60, len(rdata)) + rdata
        return out

    def serve_udp(self, sock):
        while True:
            try:
                data, peer = sock.recvfrom(4096)
            except OSError:
                return
            reply = self.respond(data, peer[0], "udp")
            if reply:
                try:
                    sock.sendto(reply, peer)
                except OSError as err:
                    self.log(f"send to {peer[0]} failed: {err}")

    def serve_tcp(self, srv):
        while True:
            try:
                conn, peer = srv.accept()
            except OSError:
                return
            threading.Thread(target=self.tcp_conn, args=(conn, peer), daemon=True).start()

    def tcp_conn(self, conn, peer):
        conn.settimeout(5.0)
        try:
            for _ in range(16):  # a few queries per connection at most
                head = recv_exact(conn, 2)
                if head is None:
                    break
                query = recv_exact(conn, struct.unpack("!H", head)[0])
                if query is None:
                    break
                reply = self.respond(query, peer[0], "tcp")
                if not reply:
                    break
                conn.sendall(struct.pack("!H", len(reply)) + reply)
        except OSError:
            pass
        finally:
            conn.close()


def recv_exact(conn, n):
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def bound_socket(addr, port, kind):
    fam = family_of(addr)
    sock = socket.socket(fam, kind)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_IP, IP_FREEBIND, 1)  # the tunnel address may come later
    if fam == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    sock.bind((addr, port))
    return sock


def serve(args):
    server = Server(args.a, args.aaaa, args.log)
    threads = []
    for addr in args.bind:
        udp = bound_socket(addr, args.port, socket.SOCK_DGRAM)
        tcp = bound_socket(addr, args.port, socket.SOCK_STREAM)
        tcp.listen(16)
        threads.append(threading.Thread(target=server.serve_udp, args=(udp,), daemon=True))
        threads.append(threading.Thread(target=server.serve_tcp, args=(tcp,), daemon=True))
        server.log(f"listening on {addr} port {args.port} udp+tcp")
    for t in threads:
        t.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    while not stop.wait(1.0):
        pass
    return 0


# ---------------------------------------------------------------------------- client

def parse_answer(reply, qid, qtype):
    if len(reply) < 12:
        raise ValueError("short reply")
    rid, flags, qd, an = struct.unpack("!HHHH", reply[:8])
    if rid != qid or not flags & 0x8000:
        raise ValueError("not a reply to our query")
    off = 12
    for _ in range(qd):
        _, off = decode_name(reply, off)
        off += 4
    out = []
    for _ in range(an):
        _, off = decode_name(reply, off)
        rtype, _, _, rdlen = struct.unpack("!HHIH", reply[off:off + 10])
        off += 10
        rdata = reply[off:off + rdlen]
        off += rdlen
        if rtype == qtype == 1 and rdlen == 4:
            out.append(str(ipaddress.IPv4Address(rdata)))
        elif rtype == qtype == 28 and rdlen == 16:
            out.append(str(ipaddress.IPv6Address(rdata)))
    return out, flags & 0xF


def query(args):
    qtype = TYPES[args.type]
    qid = int.from_bytes(os.urandom(2), "big")
    msg = build_query(qid, args.name, qtype)
    fam = family_of(args.server)
    deadline = time.monotonic() + args.timeout
    proto = "tcp" if args.tcp else "udp"
    try:
        if args.tcp:
            sock = socket.socket(fam, socket.SOCK_STREAM)
            sock.settimeout(args.timeout)
            sock.connect((args.server, args.port))
            sock.sendall(struct.pack("!H", len(msg)) + msg)
            head = recv_exact(sock, 2)
            reply = recv_exact(sock, struct.unpack("!H", head)[0]) if head else None
            sock.close()
            if reply is None:
                print(f"{args.server}:{args.port} closed the TCP connection without an answer")
                return 1
        else:
            sock = socket.socket(fam, socket.SOCK_DGRAM)
            sock.connect((args.server, args.port))  # replies from anywhere else are ignored
            sock.send(msg)
            reply = None
            while reply is None:
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([sock], [], [], left)[0]:
                    break
                data = sock.recv(4096)
                if len(data) >= 2 and struct.unpack("!H", data[:2])[0] == qid:
                    reply = data
            sock.close()
            if reply is None:
                print(f"no answer from {args.server}:{args.port} over udp within {args.timeout} s")
                return 1
        addrs, rcode = parse_answer(reply, qid, qtype)
    except (OSError, ValueError, struct.error) as err:
        print(f"query {args.name} to {args.server}:{args.port} over {proto}: {err}")
        return 1
    for a in addrs:
        print(a)
    if not addrs:
        print(f"empty answer (rcode {rcode}) from {args.server}:{args.port} over {proto}")
        return 1
    print(f"answered by {args.server}:{args.port} over {proto}")
    return 0


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--a")
    s.add_argument("--aaaa")
    s.add_argument("--port", type=int, default=53)
    s.add_argument("--log")
    s.add_argument("bind", nargs="+")
    q = sub.add_parser("query")
    q.add_argument("server")
    q.add_argument("name")
    q.add_argument("--tcp", action="store_true")
    q.add_argument("--type", choices=sorted(TYPES), default="A")
    q.add_argument("--timeout", type=float, default=3.0)
    q.add_argument("--port", type=int, default=53)
    args = parser.parse_args(argv[1:])
    return serve(args) if args.cmd == "serve" else query(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
