#!/usr/bin/env python3
"""warren's session messages (UDP types 5, 6, 7) built from scratch, for the provider suite.

    sessionpkt.py newid FILE
        Make a consumer identity (an Ed25519 seed, 32 bytes, hex in FILE); print its wr1… text.
    sessionpkt.py request PROVIDER HOST PORT [--identity FILE] [--wrong-key] [--age SECONDS]
                  [--save FILE] [--wait SECONDS]
        Seal one type 5 request to PROVIDER (wr1…) and send it to HOST:PORT, signed by the
        identity in FILE (a fresh one if none), for a random tunnel key. --wrong-key seals it
        to a random X25519 key instead of the provider's (well-formed, wrong recipient);
        --age writes a timestamp that many seconds in the past (negative: in the future).
        --save writes the datagram to FILE (for replay/mutate). --wait waits that long for a
        type 6 answer from HOST:PORT and prints "answered: type 6, N bytes" (exit status 0)
        or "no answer ..." (exit status 1).
    sessionpkt.py reask PROVIDER HOST PORT WARREN_IDENTITY SECONDS [--interval SECONDS]
        Ask for a session again and again in the name of a running warren consumer: each
        request is fresh (new nonce and timestamp), signed by the seed in its identity file
        (WARREN_IDENTITY, the state directory's `identity`: "WRNID1", the 32-byte seed, a
        checksum) and names its WireGuard key (the X25519 form of its Ed25519 key), so the
        provider takes it for that consumer asking again. Sends one every --interval (default
        0.02 s: as fast as the provider's rate limit lets any through) for SECONDS; prints the
        tunnel key (base64) and how many requests were sent and answered (type 6).
    sessionpkt.py extract PCAP HOST PORT FILE
        The first type 5 datagram to HOST:PORT in the capture, saved to FILE.
    sessionpkt.py replay FILE HOST PORT COUNT [--interval SECONDS]
        Send the datagram in FILE COUNT times (default interval 0: as fast as the socket
        takes them, with a short pause every 64).
    sessionpkt.py mutate FILE HOST PORT [--interval SECONDS]
        Damaged copies of the request in FILE, one each: a flipped bit in the reserved bytes,
        the ephemeral key, the ciphertext (start, middle) and the tag; truncated to 275, 200,
        36, 4 and 1 bytes; one byte appended. Default interval 0.3 s (under the per-source
        rate limit, so each one reaches the cryptography). Prints how many it sent.
    sessionpkt.py garbage HOST PORT COUNT [--interval SECONDS]
        Datagrams whose first byte is 5, random otherwise, of sizes 1..1400 including 276.
    sessionpkt.py close IDENTITY_FILE SESSION_ID HOST PORT [--claim WR1]
        A signed type 7 close. --claim puts another identity in the identity field than the
        one that signs (a forged close).

The layout follows Sources/Session (SessionWire, SessionRequest, SessionClose): big-endian
fields, TAI64N timestamps, k = KDF1(HASH("warren session v1 request"), DH(e, S) ‖ e.pub ‖ S.pub),
ChaCha20-Poly1305 with a zero nonce and the 36 cleartext bytes as additional data, an Ed25519
signature over "warren session request v1" ‖ cleartext ‖ the 160 field bytes.
Needs python3-cryptography (X25519, Ed25519, ChaCha20-Poly1305); hashlib gives BLAKE2s.
"""
import argparse
import base64
import hashlib
import hmac
import os
import random
import select
import socket
import struct
import sys
import time

sys.dont_write_bytecode = True  # importing wgpkt leaves no __pycache__ behind
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

REQUEST_LENGTH = 276
RESPONSE_LENGTH = 240
LABEL_REQUEST_KEY = b"warren session v1 request"
LABEL_REQUEST_SIG = b"warren session request v1"
LABEL_CLOSE_SIG = b"warren session close v1"
TAI64_BASE = 0x4000_0000_0000_000A
P25519 = 2**255 - 19


def crypto():
    try:
        from cryptography.hazmat.primitives.asymmetric import ed25519, x25519
        from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
        from cryptography.hazmat.primitives import serialization
    except ImportError as err:
        print(f"python3-cryptography is needed: {err}")
        sys.exit(3)
    return ed25519, x25519, ChaCha20Poly1305, serialization


def blake2s(data, size=32):
    return hashlib.blake2s(data, digest_size=size).digest()


def hmac_blake2s(key, *parts):
    return hmac.new(key, b"".join(parts), lambda: hashlib.blake2s()).digest()


def kdf1(key, data):
    secret = hmac_blake2s(key, data)
    return hmac_blake2s(secret, b"\x01")


def tai64n(wall_seconds):
    ns = int(wall_seconds * 1e9)
    seconds = TAI64_BASE + ns // 1_000_000_000
    nanos = (ns % 1_000_000_000) & ~(0x0100_0000 - 1)
    return struct.pack(">QI", seconds, nanos)


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def identity_text(ed_pub):
    return "wr1" + b64url(ed_pub + blake2s(ed_pub, 2))


def parse_identity(text):
    text = text.strip()
    if "@" in text:
        text = text.split("@", 1)[0]
    if not text.startswith("wr1"):
        raise ValueError(f"not a wr1 identity: {text!r}")
    body = text[3:]
    raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    key, check = raw[:32], raw[32:34]
    if blake2s(key, 2) != check:
        raise ValueError("identity checksum does not match")
    return key


def ed25519_to_x25519(ed_pub):
    """The Montgomery u of an Edwards point: u = (1 + y) / (1 - y) mod p."""
    y = int.from_bytes(ed_pub, "little") & ((1 << 255) - 1)
    u = (1 + y) * pow((1 - y) % P25519, P25519 - 2, P25519) % P25519
    return u.to_bytes(32, "little")


def raw_public(key):
    _, _, _, ser = crypto()
    return key.public_key().public_bytes(ser.Encoding.Raw, ser.PublicFormat.Raw)


def load_identity(path):
    ed25519, _, _, _ = crypto()
    if path and os.path.exists(path):
        seed = bytes.fromhex(open(path).read().strip())
    else:
        seed = os.urandom(32)
        if path:
            with open(path, "w") as f:
                f.write(seed.hex() + "\n")
    return ed25519.Ed25519PrivateKey.from_private_bytes(seed)


def udp_socket(host):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.socket(fam, socket.SOCK_DGRAM)


def send_paced(host, port, grams, interval):
    sock = udp_socket(host)
    for i, g in enumerate(grams):
        sock.sendto(g, (host, port))
        if interval > 0:
            time.sleep(interval)
        elif i % 64 == 63:
            time.sleep(0.005)
    sock.close()
    return len(grams)


# ------------------------------------------------------------------ commands

def build_request(provider_x25519, signer, tunnel_key, wall):
    _, x25519, ChaCha20Poly1305, _ = crypto()
    eph = x25519.X25519PrivateKey.generate()
    eph_pub = raw_public(eph)
    shared = eph.exchange(x25519.X25519PublicKey.from_public_bytes(provider_x25519))
    clear = b"\x05\x00\x00\x00" + eph_pub
    fields = (b"\x01\x00\x00\x00" + raw_public(signer) + tunnel_key + tai64n(wall) + os.urandom(16)
              + (2**128 - 1).to_bytes(16, "big") * 2 + bytes(32))
    assert len(fields) == 160
    signature = signer.sign(LABEL_REQUEST_SIG + clear + fields)
    key = kdf1(blake2s(LABEL_REQUEST_KEY), shared + eph_pub + provider_x25519)
    box = ChaCha20Poly1305(key).encrypt(bytes(12), fields + signature, clear)
    out = clear + box
    assert len(out) == REQUEST_LENGTH, len(out)
    return out


def cmd_newid(args):
    signer = load_identity(args.file)
    print(identity_text(raw_public(signer)))
    return 0


def cmd_request(args):
    _, x25519, _, _ = crypto()
    provider_ed = parse_identity(args.provider)
    target = ed25519_to_x25519(provider_ed)
    what = "sealed to the provider's key"
    if args.wrong_key:
        target = raw_public(x25519.X25519PrivateKey.generate())
        what = "sealed to a random key (not the provider's)"
    signer = load_identity(args.identity)
    tunnel_key = raw_public(x25519.X25519PrivateKey.generate())
    datagram = build_request(target, signer, tunnel_key, time.time() - args.age)
    if args.save:
        with open(args.save, "wb") as f:
            f.write(datagram)
    sock = udp_socket(args.host)
    sock.connect((args.host, args.port))
    sock.send(datagram)
    desc = (f"request from {identity_text(raw_public(signer))} (tunnel key {base64.b64encode(tunnel_key).decode()}), "
            f"{what}, timestamp {args.age:+.0f} s old, to {args.host}:{args.port}")
    if args.wait <= 0:
        print(f"sent {desc}")
        return 0
    deadline = time.monotonic() + args.wait
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([sock], [], [], left)[0]:
            print(f"no answer within {args.wait} s to the {desc}")
            return 1
        try:
            data = sock.recv(4096)
        except OSError as err:
            print(f"{err} after the {desc}")
            return 1
        if data[:1] == b"\x06":
            print(f"answered: type 6, {len(data)} bytes (expected {RESPONSE_LENGTH}), to the {desc}")
            return 0 if len(data) == RESPONSE_LENGTH else 1


def load_warren_identity(path):
    ed25519, _, _, _ = crypto()
    data = open(path, "rb").read()
    if len(data) != 54 or data[:6] != b"WRNID1":
        raise ValueError(f"{path} is not a warren identity file")
    return ed25519.Ed25519PrivateKey.from_private_bytes(data[6:38])


def cmd_reask(args):
    provider_x = ed25519_to_x25519(parse_identity(args.provider))
    signer = load_warren_identity(args.identity)
    tunnel_key = ed25519_to_x25519(raw_public(signer))
    sock = udp_socket(args.host)
    sock.connect((args.host, args.port))
    sock.setblocking(False)
    sent = answered = 0
    deadline = time.monotonic() + args.seconds
    while time.monotonic() < deadline:
        sock.send(build_request(provider_x, signer, tunnel_key, time.time()))
        sent += 1
        pause = time.monotonic() + args.interval
        while True:
            left = pause - time.monotonic()
            if left <= 0:
                break
            if select.select([sock], [], [], left)[0]:
                try:
                    if sock.recv(4096)[:1] == b"\x06":
                        answered += 1
                except OSError:
                    pass
    print(f"tunnel key {base64.b64encode(tunnel_key).decode()}: {sent} requests in {args.seconds} s "
          f"in the name of {identity_text(raw_public(signer))}, {answered} answered")
    return 0


def cmd_extract(args):
    import wgpkt
    grams = wgpkt.captured(args.pcap, args.host, args.port, 5)
    if not grams:
        print(f"no type 5 datagram to {args.host}:{args.port} in {args.pcap}")
        return 1
    with open(args.file, "wb") as f:
        f.write(grams[0])
    print(f"saved the first of {len(grams)} captured type 5 datagrams ({len(grams[0])} bytes)")
    return 0 if len(grams[0]) == REQUEST_LENGTH else 1


def cmd_replay(args):
    data = open(args.file, "rb").read()
    n = send_paced(args.host, args.port, [data] * args.count, args.interval)
    print(f"replayed the {len(data)}-byte request {n} times to {args.host}:{args.port}")
    return 0


def flip(data, offset):
    out = bytearray(data)
    out[offset] ^= 0x01
    return bytes(out)


def cmd_mutate(args):
    data = open(args.file, "rb").read()
    variants = [
        ("reserved byte 1", flip(data, 1)),
        ("ephemeral key byte 10", flip(data, 10)),
        ("ciphertext byte 36", flip(data, 36)),
        ("ciphertext byte 150", flip(data, 150)),
        ("tag byte 275", flip(data, len(data) - 1)),
        ("truncated to 275", data[:275]),
        ("truncated to 200", data[:200]),
        ("truncated to 36", data[:36]),
        ("truncated to 4", data[:4]),
        ("truncated to 1", data[:1]),
        ("one byte appended", data + b"\x00"),
    ]
    n = send_paced(args.host, args.port, [v for _, v in variants], args.interval)
    print(f"sent {n} damaged requests to {args.host}:{args.port}: {', '.join(d for d, _ in variants)}")
    return 0


def cmd_garbage(args):
    sizes = [1, 2, 4, 36, 100, 275, 276, 276, 276, 277, 1400]
    rnd = random.Random()
    grams = []
    for i in range(args.count):
        size = sizes[i] if i < len(sizes) else rnd.randint(1, 1400)
        grams.append(b"\x05" + os.urandom(size - 1))
    n = send_paced(args.host, args.port, grams, args.interval)
    print(f"sent {n} random datagrams starting with byte 5 ({n - len([g for g in grams if len(g) != 276])} of 276 bytes) "
          f"to {args.host}:{args.port}")
    return 0


def cmd_close(args):
    signer = load_identity(args.identity)
    claimed = parse_identity(args.claim) if args.claim else raw_public(signer)
    signed = b"\x07\x00\x00\x00" + claimed + struct.pack(">I", args.session) + tai64n(time.time())
    datagram = signed + signer.sign(LABEL_CLOSE_SIG + signed)
    assert len(datagram) == 116
    send_paced(args.host, args.port, [datagram], 0)
    who = identity_text(claimed)
    forged = " (forged: signed by another key)" if args.claim else ""
    print(f"sent a close of session {args.session} in the name of {who}{forged} to {args.host}:{args.port}")
    return 0


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("newid")
    s.add_argument("file")
    s = sub.add_parser("request")
    s.add_argument("provider")
    s.add_argument("host")
    s.add_argument("port", type=int)
    s.add_argument("--identity")
    s.add_argument("--wrong-key", action="store_true")
    s.add_argument("--age", type=float, default=0.0)
    s.add_argument("--save")
    s.add_argument("--wait", type=float, default=0.0)
    s = sub.add_parser("reask")
    s.add_argument("provider")
    s.add_argument("host")
    s.add_argument("port", type=int)
    s.add_argument("identity")
    s.add_argument("seconds", type=float)
    s.add_argument("--interval", type=float, default=0.02)
    s = sub.add_parser("extract")
    s.add_argument("pcap")
    s.add_argument("host")
    s.add_argument("port", type=int)
    s.add_argument("file")
    s = sub.add_parser("replay")
    s.add_argument("file")
    s.add_argument("host")
    s.add_argument("port", type=int)
    s.add_argument("count", type=int)
    s.add_argument("--interval", type=float, default=0.0)
    s = sub.add_parser("mutate")
    s.add_argument("file")
    s.add_argument("host")
    s.add_argument("port", type=int)
    s.add_argument("--interval", type=float, default=0.3)
    s = sub.add_parser("garbage")
    s.add_argument("host")
    s.add_argument("port", type=int)
    s.add_argument("count", type=int)
    s.add_argument("--interval", type=float, default=0.3)
    s = sub.add_parser("close")
    s.add_argument("identity")
    s.add_argument("session", type=int)
    s.add_argument("host")
    s.add_argument("port", type=int)
    s.add_argument("--claim")
    args = parser.parse_args(argv[1:])
    handler = {"newid": cmd_newid, "request": cmd_request, "extract": cmd_extract, "replay": cmd_replay,
               "mutate": cmd_mutate, "garbage": cmd_garbage, "close": cmd_close, "reask": cmd_reask}[args.cmd]
    try:
        return handler(args)
    except (OSError, ValueError) as err:
        print(f"{args.cmd}: {err}")
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
