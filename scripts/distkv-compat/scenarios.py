#!/usr/bin/python3
"""Scenarios of DistKV 0.57.4's own client against distkv, run through record.py.

    scenarios.py NAME PORT

DistKV's client library must be on PYTHONPATH (see record.sh). Each scenario prints what the
client saw, so a recording can be checked by eye too.
"""
import sys

import anyio
from distkv.client import open_client
from distkv.exceptions import ServerError
from distkv.util import P, Path

PORT = int(sys.argv[2])


def connect(name):
    return open_client(connect=dict(host="127.0.0.1", port=PORT, name=name, init_timeout=5))


async def expect_error(what, coro):
    try:
        r = await coro
    except (ServerError, Exception) as exc:  # DistKV raises ServerError or a mapped ClientError
        print(what, "refused:", type(exc).__name__, exc)
        return
    raise RuntimeError(f"{what}: no error, got {r!r}")


async def values():
    """set/get/delete with chain and prev conditions and their failures, nchain forms."""
    async with connect("values") as c:
        print("set", await c.set(P("v.a"), value=1))
        r = await c.set(P("v.a"), value=1, nchain=1)
        print("set same", r)
        r = await c.set(P("v.a"), value=2, chain=r.chain, nchain=2)
        print("set chain", r)
        await expect_error("stale chain", c.set(P("v.a"), value=3, chain=dict(node=r.chain.node, tick=1)))
        await expect_error("exists", c.set(P("v.a"), value=3, chain=None))
        await expect_error("new", c.set(P("v.new"), value=3, chain=dict(node=r.chain.node, tick=1)))
        print("prev", await c.set(P("v.a"), value=4, prev=2))
        await expect_error("prev", c.set(P("v.a"), value=5, prev=99))
        print("idem", await c.set(P("v.a"), value=4, idem=True))
        for n in (False, True, 0, 1, 3, -1):
            print("get nchain", n, await c.get(P("v.a"), nchain=n))
        print("get missing", await c.get(P("v.none"), nchain=1))
        print("delete", await c.delete(P("v.a"), nchain=False))
        print("delete again", await c.delete(P("v.a")))
        await expect_error("unknown action", c._request("no_such_action"))
        await expect_error("set without value", c._request("set_value", path=P("v.x")))


async def misc():
    """get_tock, get_value by node and tick, enum_node, big integers, enum, get_tree options, delete_tree
    with and without nchain."""
    async with connect("misc") as c:
        print("tock", (await c._request("get_tock")).tock, (await c._request("get_tock")).tock)
        r = await c.set(P("m.x"), value="x", nchain=1)
        print("by tick", await c._request("get_value", node=r.chain.node, tick=r.chain.tick, nchain=1))
        print("enum_node", await c._request("enum_node", node=r.chain.node),
              await c._request("enum_node", node=r.chain.node, current=True, max=1))
        for i, b in enumerate([2**64, 2**64 + 1, 2**100, 2**64 - 1, 5, -3]):
            await c.set(Path("big", b), value=i)
        print("big tree", [(m.path, m.value) async for m in c.get_tree(P("big"))])
        print("big get", await c.get(Path("big", 2**100)))
        for k in ("a", "b.c", "b.d", "b.d.e"):
            await c.set(P("e") + P(k), value=k)
        print("enum", await c._request("enum", path=P("e")))
        print("enum empty", await c._request("enum", path=P("e"), empty=True, with_data=True))
        for kw in (dict(), dict(min_depth=1), dict(max_depth=1), dict(min_depth=True, max_depth=False),
                   dict(nchain=True, empty=True)):
            print("tree", kw, [m async for m in c.get_tree(P("e"), **kw)])
        print("delete_tree", await c._request("delete_tree", path=P("e")))
        for k in ("a", "a.b", "c"):
            await c.set(P("d") + P(k), value=k)
        await c.set(P("d.c"), value="again")
        print("delete_tree nchain", [m async for m in await c.delete_tree(P("d"), nchain=2)])
        await expect_error("delete_tree root", c._request("delete_tree", path=P(":"), nchain=1))
        print("tree after", [m async for m in c.get_tree(P("e"))])


async def refused():
    """Refused streams: start, error, end; the connection keeps working."""
    async with connect("refused") as c:
        for kw in (dict(max_depth="deep"), dict(path="not.a.path"), dict(min_depth=[1])):
            args = dict(path=P("r"))
            args.update(kw)
            try:
                async with c._stream("get_tree", **args) as st:
                    async for m in st:
                        print("entry", m)
            except Exception as exc:
                print("get_tree refused:", type(exc).__name__, exc)
        try:
            async with c._stream("watch", path=P("r"), fetch="maybe", max_depth="x") as w:
                async for m in w:
                    print("watch", m)
        except Exception as exc:
            print("watch refused:", type(exc).__name__, exc)
        print("still works", await c.set(P("r.ok"), value=1))


async def flow():
    """qlen flow control: a consumer that stalls 2 s (longer than DistKV's 1 s reader timeout)
    inside a 60-entry get_tree and a busy watch gets everything in order."""
    async with connect("flow") as c:
        print("qlen", c.qlen)
        for i in range(60):
            await c.set(P("f.t") | i, value=i)
        n = 0
        async for m in c.get_tree(P("f.t")):
            n += 1
            if n == 15:
                await anyio.sleep(2)
        print("tree entries", n)
        got = []
        async with c.watch(P("f.w"), fetch=True) as w:
            async for m in w:
                if m.get("state") == "uptodate":
                    for i in range(40):
                        await c.set(P("f.w.x"), value=i)
                    continue
                got.append(m.value)
                if len(got) == 5:
                    await anyio.sleep(2)
                if len(got) == 40:
                    break
            await c._request("stop", task=w.seq)
        print("watch events", len(got), "in order", got == list(range(40)))


async def newacts():
    """root, auth_info, log and kill_node, with their refusals (a single node: kill_node can
    only be refused)."""
    async with connect("newacts") as c:
        print("auth_info", await c._request("auth_info"))
        await c.set(P("o.x"), value="out")
        await c.set(P("h.a.k"), value=1)
        print("log", await c._request("log", path="changes", fetch=True))
        await expect_error("log bad name", c._request("log", path="../escape"))
        await expect_error("log exists", c._request("log", path="changes"))
        await expect_error("kill_node self", c._request("kill_node", node="rec"))
        await expect_error("kill_node unknown", c._request("kill_node", node="nobody"))
        await expect_error("kill_node without node", c._request("kill_node"))
    async with connect("rooted") as c:
        print("root", await c._request("root", path=P("h")))
        print("get", await c.get(P("a.k")))
        print("set", await c.set(P("a.n"), value=2, nchain=1))
        print("tree", [m async for m in c.get_tree(P("a"))])
        print("outside", await c.get(P("o.x")))
        await expect_error("null element", c.set(Path("a", None), value=3))
        print("root deeper", await c._request("root", path=P("a")))
        print("get deeper", await c.get(P("k")))
        await expect_error("log rooted", c._request("log", path="r"))
    async with connect("after") as c:
        print("get absolute", await c.get(P("h.a.n")))
        print("log stop", await c._request("log"))


anyio.run(globals()[sys.argv[1]], backend="trio")
