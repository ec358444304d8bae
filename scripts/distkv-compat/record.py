#!/usr/bin/python3
"""Record DistKV client exchanges with a distkv server, as server/testdata/distkv/*.txt.

    record.py OUT LISTEN_PORT SERVER_PORT

Forwards every connection to 127.0.0.1:LISTEN_PORT to the server and logs each msgpack
message in the order the proxy saw it, before forwarding it, so that the log keeps causality
across connections: "N id" opens connection id, "C id hex" is one client message, "S id hex"
one server message, "X id" the client closing. Runs until killed. Needs python3-msgpack only
(docs/protocol.md, "Compatibility tests").
"""
import itertools
import socket
import sys
import threading

import msgpack

out = open(sys.argv[1], "w", buffering=1)
lock = threading.Lock()
ids = itertools.count(1)


def pump(cid, src, dst, tag):
    unp = msgpack.Unpacker(raw=True, strict_map_key=False)
    raw = bytearray()
    off = 0
    while True:
        try:
            b = src.recv(65536)
        except OSError:
            b = b""
        if not b:
            if tag == "C":
                with lock:
                    out.write(f"X {cid}\n")
            try:
                dst.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            return
        raw.extend(b)
        unp.feed(b)
        lines = []
        for _ in unp:
            end = unp.tell()
            lines.append(f"{tag} {cid} {bytes(raw[off:end]).hex()}")
            off = end
        with lock:
            for ln in lines:
                out.write(ln + "\n")
        try:
            dst.sendall(b)
        except OSError:
            return


def conn(c, target):
    cid = next(ids)
    s = socket.create_connection(("127.0.0.1", target))
    with lock:
        out.write(f"N {cid}\n")
    t = threading.Thread(target=pump, args=(cid, s, c, "S"))
    t.start()
    pump(cid, c, s, "C")
    t.join()
    c.close()
    s.close()


def serve(listen, target):
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", listen))
    ls.listen(8)
    while True:
        c, _ = ls.accept()
        threading.Thread(target=conn, args=(c, target), daemon=True).start()


serve(int(sys.argv[2]), int(sys.argv[3]))
