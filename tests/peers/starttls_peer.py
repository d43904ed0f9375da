#!/usr/bin/env python3
"""STARTTLS peer for tests/starttls.rs, written with Python's ssl module.

usage: starttls_peer.py client PORT CAFILE  WHO_CLOSES PIPELINED
       starttls_peer.py server PORT CERT KEY WHO_CLOSES PIPELINED

The conversation, on one TCP connection:
  plaintext  client "HELLO\r\n"     server "HI\r\n"
             client "STARTTLS\r\n"  server "GO\r\n" (not sent when PIPELINED=1: the client
             starts TLS at once, so the server's line reader may swallow part of the
             ClientHello and must hand it to TLS)
  TLS        client "secret 1\n"    server "secret 2\n"
             WHO_CLOSES ("python" or "rust") sends close_notify first; the other answers;
             both keep the socket (Python: SSLSocket.unwrap())
  plaintext  client "PLAIN AGAIN\r\n" server "PLAIN OK\r\n"
Prints "ok" and exits 0 when every step went as described.
"""
import socket
import ssl
import sys


def read_line(sock):
    data = b""
    while not data.endswith(b"\n"):
        chunk = sock.recv(1)
        if not chunk:
            raise RuntimeError(f"end of stream after {data!r}")
        data += chunk
    return data


def expect(sock, line):
    got = read_line(sock)
    if got != line:
        raise RuntimeError(f"expected {line!r}, got {got!r}")


def end_tls(tls, who_closes):
    if who_closes == "python":
        return tls.unwrap()  # sends close_notify, waits for the peer's
    # The peer closes first: its close_notify reads as end of stream.
    rest = tls.recv(100)
    if rest != b"":
        raise RuntimeError(f"expected close_notify, got {rest!r}")
    return tls.unwrap()  # answers with ours


def client(port, cafile, who_closes, pipelined):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cafile)
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(b"HELLO\r\n")
    expect(sock, b"HI\r\n")
    sock.sendall(b"STARTTLS\r\n")
    if not pipelined:
        expect(sock, b"GO\r\n")
    tls = ctx.wrap_socket(sock, server_hostname="localhost")
    tls.sendall(b"secret 1\n")
    expect(tls, b"secret 2\n")
    plain = end_tls(tls, who_closes)
    plain.sendall(b"PLAIN AGAIN\r\n")
    expect(plain, b"PLAIN OK\r\n")
    plain.close()


def server(port, cert, key, who_closes, pipelined):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    listener = socket.create_server(("127.0.0.1", port))
    print("listening", flush=True)
    sock, _ = listener.accept()
    sock.settimeout(10)
    expect(sock, b"HELLO\r\n")
    sock.sendall(b"HI\r\n")
    expect(sock, b"STARTTLS\r\n")
    if not pipelined:
        sock.sendall(b"GO\r\n")
    tls = ctx.wrap_socket(sock, server_side=True)
    expect(tls, b"secret 1\n")
    tls.sendall(b"secret 2\n")
    plain = end_tls(tls, who_closes)
    expect(plain, b"PLAIN AGAIN\r\n")
    plain.sendall(b"PLAIN OK\r\n")
    plain.close()


def main():
    role, port = sys.argv[1], int(sys.argv[2])
    if role == "client":
        client(port, sys.argv[3], sys.argv[4], sys.argv[5] == "1")
    else:
        server(port, sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6] == "1")
    print("ok", flush=True)


if __name__ == "__main__":
    main()
