#!/usr/bin/env python3
"""A TLS peer on Python's ssl module, for the interop matrix (tests/interop_matrix.rs).

It is a client or a server over TCP on 127.0.0.1. On each connection it sends the bytes of
--send while it receives --expect bytes (full duplex, nonblocking: neither side can stall
the other), writes what it received to <--recv>.<connection>, then ends the connection as
--close says:

  answer    wait for the other side's close_notify, then answer it with ours
  initiate  send close_notify and wait for the answer (ssl's unwrap())
  expect    only wait for the end of the stream and report how it came
  drop      close the socket without close_notify

It reports what it saw as lines on stdout, each an event name and key=value fields:

  LISTENING port=N
  HANDSHAKE conn=I version=TLSv1.3 alpn=h2|- resumed=0|1 peer_cert=CN|- sni=NAME|-
  RECEIVED conn=I bytes=N
  CLOSE conn=I how=close_notify|truncated|answered|initiated|dropped|reset
  FAILED conn=I stage=handshake|transfer|close error=...   (then exit status 2)
  DONE

Every wait is bounded by --timeout seconds.
"""

import argparse
import os
import select
import socket
import ssl
import sys
import time

CHUNK = 64 * 1024


def report(event, **fields):
    parts = [event] + [f"{k}={v}" for k, v in fields.items()]
    sys.stdout.write(" ".join(parts) + "\n")
    sys.stdout.flush()


def one_line(err):
    return str(err).replace("\n", " ") or type(err).__name__


def make_context(args):
    if args.role == "server":
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.verify_mode = {
            "none": ssl.CERT_NONE,
            "optional": ssl.CERT_OPTIONAL,
            "required": ssl.CERT_REQUIRED,
        }[args.client_auth]
        if args.ca:
            ctx.load_verify_locations(cafile=args.ca)
        ctx.sni_names = []
        ctx.sni_callback = lambda sock, name, c: ctx.sni_names.append(name or "-")
    else:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = True
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(cafile=args.ca)
    if args.cert:
        ctx.load_cert_chain(args.cert, args.key)
    version = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}
    if args.tls:
        ctx.minimum_version = ctx.maximum_version = version[args.tls]
    if args.alpn:
        ctx.set_alpn_protocols(args.alpn.split(","))
    return ctx


def peer_common_name(tls):
    cert = tls.getpeercert()
    if not cert:
        return "-"
    for rdn in cert.get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                return value.replace(" ", "_")
    return "unnamed"


def transfer(tls, out, expect, deadline):
    """Sends `out` while receiving `expect` bytes; returns what was received."""
    tls.setblocking(False)
    sent, received = 0, bytearray()
    view = memoryview(out)
    while sent < len(out) or len(received) < expect:
        if time.monotonic() > deadline:
            raise TimeoutError(f"sent {sent}/{len(out)}, received {len(received)}/{expect}")
        want_write = False
        if sent < len(out):
            try:
                sent += tls.send(view[sent:sent + CHUNK])
            except (ssl.SSLWantWriteError, ssl.SSLWantReadError, BlockingIOError):
                want_write = True
        while len(received) < expect:
            try:
                data = tls.recv(CHUNK)
            except (ssl.SSLWantReadError, BlockingIOError):
                break
            except ssl.SSLWantWriteError:
                want_write = True
                break
            if not data:
                raise EOFError(f"close_notify after {len(received)}/{expect} bytes")
            received += data
        if sent < len(out) or len(received) < expect:
            wait = [tls] if (want_write or sent < len(out)) else []
            select.select([tls], wait, [], 0.05)
    return bytes(received)


def read_to_end(tls):
    """Reads until the stream ends; returns how: close_notify, truncated or reset."""
    try:
        while True:
            if not tls.recv(CHUNK):
                return "close_notify"
    except ssl.SSLEOFError:
        return "truncated"
    except ConnectionResetError:
        return "reset"


def finish(tls, how):
    if how == "drop":
        # No close_notify: close the descriptor under the TLS layer.
        os.close(tls.detach())
        return "dropped"
    if how == "initiate":
        tls.unwrap()  # close_notify out, then waits for the answer
        return "initiated"
    ended = read_to_end(tls)
    if how == "answer" and ended == "close_notify":
        tls.unwrap()
        return "answered"
    return ended


def run_connection(args, ctx, sock, index, session):
    out = open(args.send, "rb").read() if args.send else b""
    stage = "handshake"
    try:
        if args.role == "server":
            tls = ctx.wrap_socket(sock, server_side=True, suppress_ragged_eofs=False)
            sni = ctx.sni_names[-1] if ctx.sni_names else "-"
        else:
            tls = ctx.wrap_socket(sock, server_hostname=args.server_name,
                                  suppress_ragged_eofs=False, session=session)
            sni = args.server_name
        report("HANDSHAKE", conn=index, version=tls.version(),
               alpn=tls.selected_alpn_protocol() or "-",
               resumed=int(tls.session_reused), peer_cert=peer_common_name(tls), sni=sni)
        stage = "transfer"
        deadline = time.monotonic() + args.timeout
        received = transfer(tls, out, args.expect, deadline)
        if args.recv:
            with open(f"{args.recv}.{index}", "wb") as f:
                f.write(received)
        report("RECEIVED", conn=index, bytes=len(received))
        session = tls.session
        stage = "close"
        tls.settimeout(args.timeout)
        how = finish(tls, args.close)
        report("CLOSE", conn=index, how=how)
        return session
    except Exception as err:  # report every failure the same way
        report("FAILED", conn=index, stage=stage, error=one_line(err))
        sys.exit(2)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--role", choices=["client", "server"], required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--server-name", default="localhost")
    parser.add_argument("--tls", choices=["1.2", "1.3"])
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--ca")
    parser.add_argument("--client-auth", choices=["none", "optional", "required"],
                        default="none")
    parser.add_argument("--alpn")
    parser.add_argument("--send")
    parser.add_argument("--recv")
    parser.add_argument("--expect", type=int, default=0)
    parser.add_argument("--close", default="answer",
                        choices=["answer", "initiate", "expect", "drop"])
    parser.add_argument("--connections", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=30.0)
    args = parser.parse_args()

    ctx = make_context(args)
    session = None
    if args.role == "server":
        listener = socket.create_server(("127.0.0.1", args.port))
        report("LISTENING", port=listener.getsockname()[1])
        listener.settimeout(args.timeout)
        for index in range(args.connections):
            sock, _ = listener.accept()
            sock.settimeout(args.timeout)
            run_connection(args, ctx, sock, index, None)
    else:
        for index in range(args.connections):
            sock = socket.create_connection(("127.0.0.1", args.port), timeout=args.timeout)
            session = run_connection(args, ctx, sock, index, session)
    report("DONE")


if __name__ == "__main__":
    main()
