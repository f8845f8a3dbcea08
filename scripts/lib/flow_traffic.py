#!/usr/bin/env python3
"""Traffic for the flow and firewall-log scenarios and benchmarks.

  flow_traffic.py serve PORT                 TCP and UDP echo on PORT (in the server namespace)
  flow_traffic.py burst HOST PORT N SIZE [UDP_BASE]  N short TCP then N UDP exchanges of SIZE bytes
                                           (UDP from ports UDP_BASE.., default 20000)
  flow_traffic.py hold HOST PORT SECONDS     one TCP connection held open SECONDS, then closed
  flow_traffic.py udp-flood HOST PORT N      N UDP datagrams as fast as possible (firewall log input)
Prints the client ports it used (one per line, "tcp PORT" / "udp PORT") for burst.
"""
import socket
import sys
import threading
import time


def serve(port):
    def tcp():
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("0.0.0.0", port))
        server.listen(512)
        while True:
            conn, _ = server.accept()
            threading.Thread(target=echo, args=(conn,), daemon=True).start()

    def echo(conn):
        try:
            while True:
                data = conn.recv(65536)
                if not data:
                    break
                conn.sendall(data)
        finally:
            conn.close()

    threading.Thread(target=tcp, daemon=True).start()
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("0.0.0.0", port))
    while True:
        data, peer = udp.recvfrom(65536)
        udp.sendto(data, peer)


def burst(host, port, n, size, udp_base):
    payload = b"x" * size
    for _ in range(n):
        s = socket.create_connection((host, port), timeout=5)
        print("tcp", s.getsockname()[1], flush=True)
        s.sendall(payload)
        got = 0
        while got < size:
            got += len(s.recv(65536))
        s.close()
    for i in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(5)
        # An explicit port per exchange: the kernel may hand out a port again, and two exchanges on one
        # 5-tuple within the UDP timeout are one conntrack flow.
        s.bind(("0.0.0.0", udp_base + i))
        s.connect((host, port))
        print("udp", s.getsockname()[1], flush=True)
        s.send(payload)
        s.recv(65536)
        s.close()


def hold(host, port, seconds):
    s = socket.create_connection((host, port), timeout=5)
    print("tcp", s.getsockname()[1], flush=True)
    s.sendall(b"hello")
    s.recv(100)
    time.sleep(seconds)
    s.close()


def udp_flood(host, port, n):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    payload = b"y" * 18
    for _ in range(n):
        try:
            s.sendto(payload, (host, port))
        except OSError:
            pass


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "serve":
        serve(int(sys.argv[2]))
    elif cmd == "burst":
        burst(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]),
              int(sys.argv[6]) if len(sys.argv) > 6 else 20000)
    elif cmd == "hold":
        hold(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))
    elif cmd == "udp-flood":
        udp_flood(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
