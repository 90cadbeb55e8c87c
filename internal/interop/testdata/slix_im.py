#!/usr/bin/python3
"""RFC 6121 scenarios for roost's interop tests, driven with slixmpp.

Phase "befriend": alice and bob, two resources each, become contacts step
by step; after every step both sides' roster states are printed as each
resource's client sees them. Then presence comes and goes (including a
killed connection), messages are routed by priority, bad roster sets are
refused, and bob goes offline while alice writes to him.

Phase "after-restart": bob comes back after the server restarted and must
find alice's messages, in order, with delay stamps, and both rosters.

Every observation is one JSON line; the Go test asserts on them.
"""
import argparse
import asyncio
import sys

from slixmpp.exceptions import IqError
from slixmpp.xmlstream import ET

from slix import RosterClient, emit


class IMClient(RosterClient):
    def __init__(self, jid, password, ca, name):
        super().__init__(jid, password, ca, name)
        self.register_plugin("xep_0203")
        self.add_event_handler("roster_update", self._roster_push)
        self.pushes = []

    def _roster_push(self, iq):
        for jid, item in iq["roster"]["items"].items():
            self.pushes.append((str(jid), item["subscription"], bool(item.get("ask"))))


async def login(args, jid, password, name, priority=None):
    c = IMClient(jid, password, args.ca, name)
    c.connect(address=(args.host, 5222))
    await asyncio.wait_for(c.ready, args.timeout)
    await c.get_roster()
    return c


async def send_presence(c, show=None, priority=None):
    kw = {}
    if show:
        kw["pshow"] = show
    if priority is not None:
        kw["ppriority"] = priority
    c.send_presence(**kw)
    await asyncio.sleep(0.3)


def states(step, clients, contacts):
    for c in clients:
        emit(event="state", step=step, client=c.name, contact=contacts[c.name], state=c.state(contacts[c.name]))


async def roster_set(c, xml):
    iq = c.make_iq_set()
    iq.append(ET.fromstring(xml))
    try:
        await iq.send(timeout=10)
        return "ok"
    except IqError as e:
        return e.iq["error"]["condition"]


async def befriend(args):
    a1 = await login(args, "alice@a.example/a1", "alice-secret", "a1")
    a2 = await login(args, "alice@a.example/a2", "alice-secret", "a2")
    b1 = await login(args, "bob@a.example/b1", "bob-secret", "b1")
    b2 = await login(args, "bob@a.example/b2", "bob-secret", "b2")
    await send_presence(a1, priority=1)
    await send_presence(a2, priority=1)
    await send_presence(b1, priority=5)
    await send_presence(b2, priority=1)
    clients = [a1, a2, b1, b2]
    contacts = {"a1": "bob@a.example", "a2": "bob@a.example", "b1": "alice@a.example", "b2": "alice@a.example"}

    # 1. alice asks bob (from a1): both of bob's resources see the request,
    #    alice's second resource sees the roster push.
    a1.send_presence(pto="bob@a.example", ptype="subscribe")
    got1 = await b1.wait("presence_subscribe", "alice@a.example")
    got2 = await b2.wait("presence_subscribe", "alice@a.example")
    emit(event="request", step=1, b1=got1, b2=got2)
    await asyncio.sleep(0.3)
    emit(event="push", step=1, client="a2", pushes=a2.pushes)
    # bob's server must not put alice in his roster before he answers
    # (the client may track her on its own).
    emit(event="push", step=1, client="b1", pushes=b1.pushes)
    states(1, clients, contacts)

    # 2. bob approves from b2.
    b2.send_presence(pto="alice@a.example", ptype="subscribed")
    await a1.wait("presence_subscribed", "bob@a.example")
    await asyncio.sleep(0.5)
    states(2, clients, contacts)

    # 3. bob asks back from b1, alice approves from a2.
    b1.send_presence(pto="alice@a.example", ptype="subscribe")
    got = await a2.wait("presence_subscribe", "bob@a.example")
    emit(event="request", step=3, a2=got)
    a2.send_presence(pto="bob@a.example", ptype="subscribed")
    await b1.wait("presence_subscribed", "alice@a.example")
    await asyncio.sleep(0.5)
    states(3, clients, contacts)

    # 4. Presence comes and goes.
    b2.send_presence(pshow="away", ppriority=1)
    emit(event="presence", step=4, what="b2 away seen by a1",
         ok=await a1.wait("changed_status", "bob@a.example/b2", show="away"))
    b2.transport.abort()  # killed, no closing tag, no unavailable
    emit(event="presence", step=4, what="b2 killed seen by a2",
         ok=await a2.wait("presence_unavailable", "bob@a.example/b2"))

    # 5. Routing: bare JID to the highest priority; full JID to that resource.
    b3 = await login(args, "bob@a.example/b3", "bob-secret", "b3")
    await send_presence(b3, priority=-1)
    a1.send_message(mto="bob@a.example", mbody="to the bare JID", mtype="chat")
    a1.send_message(mto="bob@a.example/b3", mbody="to b3", mtype="chat")
    await asyncio.sleep(1.0)
    for c in (b1, b3):
        bodies = []
        while not c.messages.empty():
            bodies.append(c.messages.get_nowait()["body"])
        emit(event="delivered", step=5, client=c.name, bodies=bodies)

    # 6. Bad roster sets are refused with the right condition.
    for name, xml in [
        ("two items", "<query xmlns='jabber:iq:roster'><item jid='x@b.example'/><item jid='y@b.example'/></query>"),
        ("empty group", "<query xmlns='jabber:iq:roster'><item jid='x@b.example'><group/></item></query>"),
        ("yourself", "<query xmlns='jabber:iq:roster'><item jid='alice@a.example'/></query>"),
        ("remove unknown", "<query xmlns='jabber:iq:roster'><item jid='nobody@b.example' subscription='remove'/></query>"),
    ]:
        emit(event="rosterset", name=name, result=await roster_set(a1, xml))

    # 7. bob goes away entirely; alice writes to him.
    for c in (b1, b3):
        c.disconnect()
    emit(event="presence", step=7, what="bob offline seen by a1",
         ok=await a1.wait("presence_unavailable", "bob@a.example/b1"))
    for i in range(3):
        a1.send_message(mto="bob@a.example", mbody="offline %d" % i, mtype="chat")
    await asyncio.sleep(1.0)
    for c in (a1, a2):
        c.disconnect()
    await asyncio.sleep(0.3)


async def after_restart(args):
    b1 = await login(args, "bob@a.example/b1", "bob-secret", "b1")
    b1.send_presence()
    bodies, stamped = [], 0
    for _ in range(3):
        m = await asyncio.wait_for(b1.messages.get(), args.timeout)
        bodies.append(m["body"])
        if m["delay"]["stamp"] is not None:
            stamped += 1
    emit(event="offline", bodies=bodies, stamped=stamped)
    emit(event="state", step="restart", client="b1", contact="alice@a.example", state=b1.state("alice@a.example"))
    a1 = await login(args, "alice@a.example/a1", "alice-secret", "a1")
    emit(event="state", step="restart", client="a1", contact="bob@a.example", state=a1.state("bob@a.example"))
    b1.disconnect()
    a1.disconnect()
    await asyncio.sleep(0.3)


async def carbons(args):
    """XEP-0280: alice's second device sees what her first one sends and
    receives."""
    a1 = await login(args, "alice@a.example/a1", "alice-secret", "a1")
    a2 = await login(args, "alice@a.example/a2", "alice-secret", "a2")
    b1 = await login(args, "bob@a.example/b1", "bob-secret", "b1")
    for c in (a1, a2, b1):
        c.register_plugin("xep_0280")
    seen = []
    a2.add_event_handler("carbon_received", lambda m: seen.append(("received", m["carbon_received"]["body"])))
    a2.add_event_handler("carbon_sent", lambda m: seen.append(("sent", m["carbon_sent"]["body"])))
    for c in (a1, a2):
        await c["xep_0280"].enable()
        await send_presence(c)
    await send_presence(b1)
    b1.send_message(mto="alice@a.example/a1", mbody="bob to a1", mtype="chat")
    a1.send_message(mto="bob@a.example", mbody="a1 to bob", mtype="chat")
    private = a1.make_message(mto="bob@a.example", mbody="private", mtype="chat")
    private.append(ET.fromstring("<private xmlns='urn:xmpp:carbons:2'/>"))
    private.send()
    await asyncio.sleep(1.5)
    emit(event="carbons", seen=sorted(seen))
    for c in (a1, a2, b1):
        c.disconnect()
    await asyncio.sleep(0.3)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("phase", choices=["befriend", "after-restart", "carbons"])
    p.add_argument("--host", required=True)
    p.add_argument("--ca", required=True)
    p.add_argument("--timeout", type=float, default=15)
    args = p.parse_args()
    try:
        asyncio.run({"befriend": befriend, "after-restart": after_restart, "carbons": carbons}[args.phase](args))
    except Exception as e:
        emit(event="error", error=type(e).__name__ + ": " + str(e))
        sys.exit(1)


if __name__ == "__main__":
    main()
