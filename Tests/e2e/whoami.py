#!/usr/bin/env python3
"""A one-line HTTP "who am I" server for the gateway suite.

    whoami.py [--port N] [--log FILE] [BIND_ADDR...]
        Serve HTTP on each BIND_ADDR (default 0.0.0.0 and ::, IPv6-only, so an IPv4
        client shows as its own IPv4 address). Every GET is answered with the client's
        address as the web server sees it, one line:  "172.30.2.2\\n".
        One line per request on stdout and in the --log file:
            request from ADDR port PORT path PATH
        Runs until SIGTERM/SIGINT.

Only the standard library.
"""
import argparse
import http.server
import signal
import socket
import sys
import threading

LOG = None
LOCK = threading.Lock()


def log(line):
    with LOCK:
        print(line, flush=True)
        if LOG:
            LOG.write(line + "\n")


class Handler(http.server.BaseHTTPRequestHandler):
    timeout = 10  # per connection: a stalled client cannot hold a thread forever
    server_version = "whoami"

    def do_GET(self):
        addr, port = self.client_address[0], self.client_address[1]
        if addr.startswith("::ffff:") and "." in addr:
            addr = addr[len("::ffff:"):]
        log(f"request from {addr} port {port} path {self.path}")
        body = (addr + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):  # the log line above is enough
        pass


def make_server(addr, port):
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET

    class Server(http.server.ThreadingHTTPServer):
        address_family = family
        daemon_threads = True

        def server_bind(self):
            if family == socket.AF_INET6:
                self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            super().server_bind()

    return Server((addr, port), Handler)


def main(argv):
    global LOG
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=80)
    parser.add_argument("--log")
    parser.add_argument("bind", nargs="*", default=["0.0.0.0", "::"])
    args = parser.parse_args(argv[1:])
    if args.log:
        LOG = open(args.log, "a", buffering=1)
    servers = [make_server(a, args.port) for a in args.bind]
    for srv, addr in zip(servers, args.bind):
        threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True).start()
        log(f"listening on {addr} port {args.port}")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    while not stop.wait(1.0):
        pass
    for srv in servers:
        srv.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
