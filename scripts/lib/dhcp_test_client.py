#!/usr/bin/env python3
"""A tiny DHCPv4 test client for the e2e scenarios: what dhclient and udhcpc will not do on demand.

  dhcp_test_client.py IFNAME MAC lease            DISCOVER/OFFER/REQUEST/ACK; prints the address
  dhcp_test_client.py IFNAME MAC decline          the same, then DHCPDECLINE of the acknowledged address
  dhcp_test_client.py IFNAME MAC pcap-acks FILE   prints "yiaddr chaddr" of every DHCPACK in a pcap file
  dhcp_test_client.py - - pcap-delays FILE         answer times (request -> reply with the same xid and
                                                   MAC): "count p50_ms p99_ms max_ms"

UDP on port 68 bound to IFNAME (SO_BINDTODEVICE) with broadcast; the interface needs no address.
"""
import os, random, socket, struct, sys, time

SO_BINDTODEVICE = 25
COOKIE = bytes([99, 130, 83, 99])


def message(kind, xid, mac, opts, ciaddr=b"\0" * 4):
    hdr = struct.pack(">BBBBIHH", 1, 1, 6, 0, xid, 0, 0x8000) + ciaddr + b"\0" * 12
    hdr += mac + b"\0" * 10 + b"\0" * 192
    body = COOKIE + bytes([53, 1, kind])
    for code, value in opts:
        body += bytes([code, len(value)]) + value
    return (hdr + body + b"\xff").ljust(300, b"\0")


def parse(p):
    if len(p) < 241 or p[0] != 2 or p[236:240] != COOKIE:
        return None
    opts, i = {}, 240
    while i < len(p) and p[i] != 255:
        if p[i] == 0:
            i += 1
            continue
        opts[p[i]] = p[i + 2:i + 2 + p[i + 1]]
        i += 2 + p[i + 1]
    return {"xid": struct.unpack(">I", p[4:8])[0], "yiaddr": socket.inet_ntoa(p[16:20]),
            "chaddr": p[28:34], "type": opts.get(53, b"\0")[0], "opts": opts}


def exchange(sock, payload, xid, want, timeout=5.0):
    deadline = time.time() + timeout
    sock.sendto(payload, ("255.255.255.255", 67))
    last = time.time()
    while time.time() < deadline:
        sock.settimeout(0.5)
        try:
            data, _ = sock.recvfrom(2048)
        except socket.timeout:
            if time.time() - last > 1.5:
                sock.sendto(payload, ("255.255.255.255", 67))
                last = time.time()
            continue
        r = parse(data)
        if r and r["xid"] == xid and r["type"] in want:
            return r
    raise SystemExit("no answer")


def lease(ifname, mac):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    s.setsockopt(socket.SOL_SOCKET, SO_BINDTODEVICE, ifname.encode())
    s.bind(("0.0.0.0", 68))
    xid = random.getrandbits(32)
    offer = exchange(s, message(1, xid, mac, []), xid, (2,))
    server = offer["opts"][54]
    req = message(3, xid, mac, [(50, socket.inet_aton(offer["yiaddr"])), (54, server)])
    ack = exchange(s, req, xid, (5, 6))
    if ack["type"] != 5:
        raise SystemExit("NAK")
    return s, ack["yiaddr"], server


def pcap_messages(path):
    """(time, op, type, xid, chaddr, yiaddr) of every DHCP message in a pcap file."""
    data = open(path, "rb").read()
    little = data[:4] == b"\xd4\xc3\xb2\xa1"
    e = "<" if little else ">"
    linktype = struct.unpack(e + "I", data[20:24])[0]
    i = 24
    while i + 16 <= len(data):
        sec, usec, incl, _ = struct.unpack(e + "IIII", data[i:i + 16])
        frame = data[i + 16:i + 16 + incl]
        i += 16 + incl
        off = 14 if linktype == 1 else 16
        ip = frame[off:]
        if len(ip) < 28 or ip[9] != 17:
            continue
        p = ip[(ip[0] & 15) * 4 + 8:]
        if len(p) < 241 or p[236:240] != COOKIE:
            continue
        r = parse(bytes([2]) + p[1:])
        if r:
            yield sec + usec / 1e6, p[0], r["type"], r["xid"], r["chaddr"], r["yiaddr"]


def delays_in_pcap(path):
    asked, delays = {}, []
    for t, op, _, xid, mac, _ in pcap_messages(path):
        if op == 1:
            asked.setdefault((xid, mac), t)
        elif (xid, mac) in asked:
            delays.append((t - asked.pop((xid, mac))) * 1000)
    delays.sort()
    if not delays:
        print("0 0 0 0")
        return
    q = lambda f: delays[min(len(delays) - 1, int(f * len(delays)))]
    print(len(delays), "%.2f" % q(0.5), "%.2f" % q(0.99), "%.2f" % delays[-1])


def acks_in_pcap(path):
    data = open(path, "rb").read()
    little = data[:4] == b"\xd4\xc3\xb2\xa1"
    e = "<" if little else ">"
    linktype = struct.unpack(e + "I", data[20:24])[0]
    i = 24
    while i + 16 <= len(data):
        _, _, incl, _ = struct.unpack(e + "IIII", data[i:i + 16])
        frame = data[i + 16:i + 16 + incl]
        i += 16 + incl
        off = 14 if linktype == 1 else 16  # Ethernet, or Linux cooked capture
        ip = frame[off:]
        if len(ip) < 28 or ip[9] != 17:
            continue
        ihl = (ip[0] & 15) * 4
        r = parse(ip[ihl + 8:])
        if r and r["type"] == 5 and r["yiaddr"] != "0.0.0.0":
            print(r["yiaddr"], ":".join("%02x" % b for b in r["chaddr"]))


def main():
    ifname, mac_text, what = sys.argv[1:4]
    if what == "pcap-acks":
        acks_in_pcap(sys.argv[4])
        return
    if what == "pcap-delays":
        delays_in_pcap(sys.argv[4])
        return
    mac = bytes(int(x, 16) for x in mac_text.split(":"))
    s, addr, server = lease(ifname, mac)
    if what == "decline":
        xid = random.getrandbits(32)
        s.sendto(message(4, xid, mac, [(50, socket.inet_aton(addr)), (54, server)]), ("255.255.255.255", 67))
    print(addr)


if __name__ == "__main__":
    main()
