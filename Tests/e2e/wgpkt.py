#!/usr/bin/env python3
"""Hostile and replayed WireGuard datagrams for the robustness suite.

    wgpkt.py garbage     HOST PORT COUNT        random bytes, random sizes 0..1500
    wgpkt.py truncated   HOST PORT              types 1-4 one byte short or long (147/20/...)
    wgpkt.py badinit     HOST PORT COUNT        type 1, 148 bytes, random body (MAC1 wrong)
    wgpkt.py mac1init    HOST PORT PUBKEY COUNT type 1 with a valid MAC1 for PUBKEY, random
                                                body: passes the MAC check, fails the handshake
    wgpkt.py unknownrx   HOST PORT COUNT        type 4 with random receiver indices
    wgpkt.py replay      PCAP HOST PORT TYPE    resend the UDP payloads of message TYPE that
                                                went to HOST:PORT in the capture
    wgpkt.py tamper      PCAP HOST PORT         captured transport packets with a new counter
                                                and a flipped ciphertext bit
    wgpkt.py count       PCAP HOST PORT TYPE    how many such payloads the capture holds
    wgpkt.py first-init  PCAP                   source address of the first initiation
    wgpkt.py check-mac1  PCAP PUBKEY            verify captured initiations' MAC1 against
                                                PUBKEY (validates our MAC1 code)

Each sender prints one line saying what it sent. Datagrams go from an ephemeral port of the
namespace it runs in; a small pause every 64 packets keeps socket buffers from overflowing.
"""
import base64
import hashlib
import ipaddress
import os
import random
import socket
import struct
import sys
import time

LABEL_MAC1 = b"mac1----"


def udp_socket(host):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.socket(fam, socket.SOCK_DGRAM)


def send_all(host, port, datagrams):
    sock = udp_socket(host)
    for i, d in enumerate(datagrams):
        sock.sendto(d, (host, port))
        if i % 64 == 63:
            time.sleep(0.005)
    sock.close()
    return len(datagrams)


def mac1(pubkey, msg_without_macs):
    key = hashlib.blake2s(LABEL_MAC1 + pubkey).digest()
    return hashlib.blake2s(msg_without_macs, digest_size=16, key=key).digest()


# ------------------------------------------------------------------ pcap reading

def pcap_udp(path):
    """Yield (src_ip, sport, dst_ip, dport, payload) for each UDP packet in a pcap file."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 24:
        return
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        endian = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        endian = ">"
    else:
        raise ValueError(f"{path}: not a pcap file")
    linktype = struct.unpack(endian + "I", data[20:24])[0]
    off = 24
    while off + 16 <= len(data):
        _, _, incl, _ = struct.unpack(endian + "IIII", data[off:off + 16])
        frame = data[off + 16:off + 16 + incl]
        off += 16 + incl
        pkt = link_payload(linktype, frame)
        if pkt is not None:
            parsed = ip_udp(pkt)
            if parsed is not None:
                yield parsed


def link_payload(linktype, frame):
    if linktype == 1:  # Ethernet
        if len(frame) < 14:
            return None
        ethertype = struct.unpack("!H", frame[12:14])[0]
        body = frame[14:]
        if ethertype == 0x8100 and len(body) >= 4:
            ethertype = struct.unpack("!H", body[2:4])[0]
            body = body[4:]
        return body if ethertype in (0x0800, 0x86DD) else None
    if linktype == 113:  # Linux cooked v1
        return frame[16:]
    if linktype == 276:  # Linux cooked v2
        return frame[20:]
    if linktype in (101, 12):  # raw IP
        return frame
    return None


def ip_udp(pkt):
    if not pkt:
        return None
    version = pkt[0] >> 4
    if version == 4:
        ihl = (pkt[0] & 0x0F) * 4
        if len(pkt) < ihl + 8 or pkt[9] != 17:
            return None
        src = str(ipaddress.IPv4Address(pkt[12:16]))
        dst = str(ipaddress.IPv4Address(pkt[16:20]))
        udp = pkt[ihl:]
    elif version == 6:
        if len(pkt) < 48 or pkt[6] != 17:  # no extension headers on our wire
            return None
        src = str(ipaddress.IPv6Address(pkt[8:24]))
        dst = str(ipaddress.IPv6Address(pkt[24:40]))
        udp = pkt[40:]
    else:
        return None
    sport, dport, length = struct.unpack("!HHH", udp[:6])
    return src, sport, dst, dport, udp[8:length]


def canon(host):
    return str(ipaddress.ip_address(host))


def captured(path, host, port, msgtype):
    host = canon(host)
    out = []
    for _, _, dst, dport, payload in pcap_udp(path):
        if dst == host and dport == port and len(payload) >= 4 and \
                struct.unpack("<I", payload[:4])[0] == msgtype:
            out.append(payload)
    return out


# ------------------------------------------------------------------ commands

def cmd_garbage(host, port, count):
    rnd = random.Random()
    sizes = [0, 1, 2, 3, 4, 5, 15, 16, 31, 32, 33, 47, 48, 63, 64, 65, 91, 92, 93, 147, 148,
             149, 255, 256, 512, 1024, 1280, 1400, 1420, 1472, 1500]
    grams = []
    for i in range(count):
        size = sizes[i] if i < len(sizes) else rnd.randint(0, 1500)
        grams.append(os.urandom(size))
    n = send_all(host, port, grams)
    print(f"sent {n} random datagrams of {len(set(map(len, grams)))} sizes to {host}:{port}")


def cmd_truncated(host, port):
    shapes = [(1, 147), (4, 20), (1, 149), (2, 91), (2, 93), (3, 63), (3, 65), (4, 31), (1, 4)]
    grams = []
    for msgtype, size in shapes:
        body = os.urandom(max(0, size - 4))
        grams.append((struct.pack("<I", msgtype) + body)[:size])
    n = send_all(host, port, grams)
    desc = ", ".join(f"type {t}/{s}B" for t, s in shapes)
    print(f"sent {n} wrongly sized messages ({desc}) to {host}:{port}")


def cmd_badinit(host, port, count):
    grams = [struct.pack("<I", 1) + os.urandom(144) for _ in range(count)]
    n = send_all(host, port, grams)
    print(f"sent {n} initiations with random body and MAC1 to {host}:{port}")


def cmd_mac1init(host, port, pubkey_b64, count):
    pub = base64.b64decode(pubkey_b64)
    grams = []
    for _ in range(count):
        head = struct.pack("<I", 1) + os.urandom(112)  # sender, ephemeral, static, timestamp
        grams.append(head + mac1(pub, head) + bytes(16))
    n = send_all(host, port, grams)
    print(f"sent {n} initiations with valid MAC1 and undecryptable body to {host}:{port}")


def cmd_unknownrx(host, port, count):
    grams = []
    for i in range(count):
        grams.append(struct.pack("<IIQ", 4, random.getrandbits(32), i) + os.urandom(32 + 16 * (i % 4)))
    n = send_all(host, port, grams)
    print(f"sent {n} transport messages for unknown receivers to {host}:{port}")


def cmd_replay(path, host, port, msgtype):
    grams = captured(path, host, port, msgtype)
    if not grams:
        print(f"no type {msgtype} payloads to {host}:{port} in {path}")
        return 1
    n = send_all(host, port, grams)
    print(f"replayed {n} captured type-{msgtype} messages to {host}:{port}")
    return 0


def cmd_tamper(path, host, port):
    grams = []
    for g in captured(path, host, port, 4):
        if len(g) < 32:
            continue
        receiver = g[4:8]
        counter = struct.unpack("<Q", g[8:16])[0] + 100000
        body = bytearray(g[16:])
        body[0] ^= 0x01
        grams.append(struct.pack("<I", 4) + receiver + struct.pack("<Q", counter) + bytes(body))
    if not grams:
        print(f"no transport payloads to {host}:{port} in {path}")
        return 1
    n = send_all(host, port, grams)
    print(f"sent {n} tampered transport messages (valid receiver, new counter) to {host}:{port}")
    return 0


def cmd_first_init(path):
    for src, _, _, _, payload in pcap_udp(path):
        if len(payload) == 148 and payload[0] == 1:
            print(src)
            return 0
    print("none")
    return 1


def cmd_check_mac1(path, pubkey_b64):
    pub = base64.b64decode(pubkey_b64)
    inits = [p for _, _, _, _, p in pcap_udp(path) if len(p) == 148 and p[0] == 1]
    good = sum(1 for p in inits if mac1(pub, p[:116]) == p[116:132])
    print(f"{good}/{len(inits)} captured initiations carry a MAC1 valid for {pubkey_b64}")
    return 0 if inits and good == len(inits) else 1


def main(a):
    try:
        cmd = a[1]
        if cmd == "garbage":
            cmd_garbage(a[2], int(a[3]), int(a[4]))
        elif cmd == "truncated":
            cmd_truncated(a[2], int(a[3]))
        elif cmd == "badinit":
            cmd_badinit(a[2], int(a[3]), int(a[4]))
        elif cmd == "mac1init":
            cmd_mac1init(a[2], int(a[3]), a[4], int(a[5]))
        elif cmd == "unknownrx":
            cmd_unknownrx(a[2], int(a[3]), int(a[4]))
        elif cmd == "replay":
            return cmd_replay(a[2], a[3], int(a[4]), int(a[5]))
        elif cmd == "tamper":
            return cmd_tamper(a[2], a[3], int(a[4]))
        elif cmd == "count":
            print(len(captured(a[2], a[3], int(a[4]), int(a[5]))))
        elif cmd == "first-init":
            return cmd_first_init(a[2])
        elif cmd == "check-mac1":
            return cmd_check_mac1(a[2], a[3])
        else:
            raise IndexError
    except IndexError:
        print(__doc__, file=sys.stderr)
        return 2
    except (OSError, ValueError) as err:
        print(f"{cmd}: {err}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
