#!/usr/bin/python3
"""External components (XEP-0114) against roost. talk: slixmpp's
ComponentXMPP connects, a second one for the same domain and one with a
wrong secret are refused, and a roost user and the component talk both
ways. irc: users join an IRC channel through biboumi. Prints JSON events
(see driver.py)."""
import argparse
import asyncio
import sys

import slixmpp

from driver import add_connection_args, emit
from slix import Client


class Component(slixmpp.ComponentXMPP):
    def __init__(self, jid, secret, host, port):
        super().__init__(jid, secret, host, port)
        loop = asyncio.get_event_loop()
        self.ready = loop.create_future()
        self.refused = loop.create_future()
        self.messages = asyncio.Queue()
        self.register_plugin("xep_0030")
        self["xep_0030"].add_identity(category="component", itype="generic", name="slixmpp echo")
        self.add_event_handler("session_start", self._start)
        self.add_event_handler("stream_error", self._refused)
        self.add_event_handler("message", self.messages.put_nowait)

    def _start(self, _):
        if not self.ready.done():
            self.ready.set_result(True)

    def _refused(self, err):
        if not self.refused.done():
            self.refused.set_result(err["condition"])


async def refused(args, secret):
    """Connect a component that roost should refuse; its stream error."""
    c = Component(args.component, secret, args.host, args.component_port)
    c.connect()
    try:
        return await asyncio.wait_for(c.refused, args.timeout)
    finally:
        c.disconnect()


async def talk(args):
    comp = Component(args.component, args.secret, args.host, args.component_port)
    comp.connect()
    await asyncio.wait_for(comp.ready, args.timeout)
    emit(event="component", domain=args.component)

    emit(event="second", condition=await refused(args, args.secret))
    emit(event="wrong-secret", condition=await refused(args, "not-" + args.secret))

    alice = Client(args.jid, args.password, None, args.ca)
    alice.register_plugin("xep_0030")
    errors = asyncio.Queue()
    alice.add_event_handler("message_error", errors.put_nowait)
    alice.connect(address=(args.host, args.port))
    await asyncio.wait_for(alice.ready, args.timeout)

    items = await alice["xep_0030"].get_items(jid=alice.boundjid.domain, timeout=args.timeout)
    emit(event="items", items=[[i[0], i[2]] for i in items["disco_items"]["items"]])

    alice.send_message(mto="echo@" + args.component, mbody="hello component", mtype="chat")
    m = await asyncio.wait_for(comp.messages.get(), args.timeout)
    emit(event="component-got", frm=str(m["from"]), to=str(m["to"]), body=m["body"])
    comp.send_message(mto=m["from"], mfrom="echo@" + args.component + "/bot", mbody="hello alice", mtype="chat")
    while True:
        m = await asyncio.wait_for(alice.messages.get(), args.timeout)
        if m["type"] != "error":
            break
    emit(event="alice-got", frm=str(m["from"]), to=str(m["to"]), body=m["body"])

    info = await alice["xep_0030"].get_info(jid=args.component, timeout=args.timeout)
    emit(event="info", identities=[[i[0], i[1], i[3]] for i in info["disco_info"]["identities"]])

    comp.disconnect()
    await asyncio.sleep(0.5)
    alice.send_message(mto="echo@" + args.component, mbody="anyone there?", mtype="chat")
    e = await asyncio.wait_for(errors.get(), args.timeout)
    emit(event="away", type=e["error"]["type"], condition=e["error"]["condition"])
    alice.disconnect()
    await asyncio.sleep(0.2)


async def join(c, room, nick, timeout):
    """Join the group chat room as nick (XEP-0045 §7.2); our own presence
    back from the room, or the error."""
    loop = asyncio.get_event_loop()
    done = loop.create_future()

    def settle(p):
        if not done.done():
            done.set_result(p)
    c.add_event_handler("muc::%s::self-presence" % room, settle)
    c.add_event_handler("muc::%s::presence-error" % room, settle)
    c["xep_0045"].join_muc(room, nick)
    return await asyncio.wait_for(done, timeout)


async def irc(args):
    """Two users, one on roost and one on a federated server, join an IRC
    channel through biboumi, each says hello, and both wait for the IRC
    user's answer."""
    users = []
    for jid, password, host, ca, nick in ((args.jid, args.password, args.host, args.ca, "alice"),
                                          (args.jid2, args.password2, args.host2, args.ca2, "bob")):
        c = Client(jid, password, None, ca)
        c.register_plugin("xep_0045")
        c.groupchat = asyncio.Queue()
        c.add_event_handler("groupchat_message", c.groupchat.put_nowait)
        c.connect(address=(host, args.port))
        users.append((c, nick))
    await asyncio.wait_for(asyncio.gather(*(c.ready for c, _ in users)), args.timeout)
    for c, nick in users:
        p = await join(c, args.room, nick, args.timeout)
        emit(event="joined", user=str(c.boundjid.bare), type=p["type"], frm=str(p["from"]),
             condition=p["error"]["condition"] if p["type"] == "error" else "")
    for c, nick in users:
        c.send_message(mto=args.room, mbody="hello from " + nick, mtype="groupchat")
    for c, _ in users:
        while True:
            m = await asyncio.wait_for(c.groupchat.get(), args.timeout)
            if m["from"].resource == args.irc_nick:
                break
        emit(event="groupchat", user=str(c.boundjid.bare), frm=str(m["from"]), body=m["body"])
    for c, _ in users:
        c.disconnect()
    await asyncio.sleep(0.2)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("scenario", choices=["talk", "irc"])
    add_connection_args(p)
    p.add_argument("--component")
    p.add_argument("--component-port", type=int, default=5347)
    p.add_argument("--secret")
    p.add_argument("--jid2")
    p.add_argument("--password2")
    p.add_argument("--host2")
    p.add_argument("--ca2")
    p.add_argument("--room")
    p.add_argument("--irc-nick")
    args = p.parse_args()
    try:
        asyncio.run({"talk": talk, "irc": irc}[args.scenario](args))
    except Exception as e:  # report, so the Go side shows what broke
        emit(event="error", error=type(e).__name__ + ": " + str(e))
        sys.exit(1)


if __name__ == "__main__":
    main()
