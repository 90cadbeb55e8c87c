#!/usr/bin/python3
"""slixmpp side of roost's web client test (web_test.go).

befriend: the web user and each of its contacts subscribe to each other
(RFC 6121 §3), so that the web clients find them in their rosters.

echo: log in and answer every chat message with "echo: <body>", until
--count messages were answered or --timeout passes; print each.
"""
import argparse
import asyncio
import sys

import slix
from driver import add_connection_args, emit


class Client(slix.Client):
    """slix.py's client, which authorises subscription requests by itself
    and records the contacts that authorised its own."""

    def __init__(self, jid, password, ca):
        super().__init__(jid, password, None, ca)
        self.subscribed = asyncio.Queue()
        self.roster.auto_authorize = True
        self.roster.auto_subscribe = False
        self.add_event_handler("presence_subscribed", lambda p: self.subscribed.put_nowait(p["from"].bare))

    async def _start(self, ev):
        # An interested resource (RFC 6121 §2.1.6): it gets roster pushes.
        await self.get_roster()
        await super()._start(ev)


def connect(args, jid, password):
    c = Client(jid, password, args.ca)
    c.connect(address=(args.host, args.port))
    return c


async def until_subscribed(c, peer, timeout):
    while True:
        got = await asyncio.wait_for(c.subscribed.get(), timeout)
        if got == peer:
            return


async def roster_state(c, contact, want, timeout):
    """The subscription of contact in c's roster once it is want (the
    roster push may come after the presence), or as it is after timeout."""
    end = asyncio.get_event_loop().time() + timeout
    while c.client_roster[contact]["subscription"] != want and asyncio.get_event_loop().time() < end:
        await asyncio.sleep(0.05)
    return c.client_roster[contact]["subscription"]


async def befriend(args):
    me = connect(args, args.jid, args.password)
    await asyncio.wait_for(me.ready, args.timeout)
    for contact in args.contacts:
        user, password = contact.split(":", 1)
        other = connect(args, user, password)
        await asyncio.wait_for(other.ready, args.timeout)
        # Each asks; the other side's client authorises by itself.
        me.send_presence(pto=user, ptype="subscribe")
        await until_subscribed(me, user, args.timeout)
        other.send_presence(pto=args.jid, ptype="subscribe")
        await until_subscribed(other, args.jid, args.timeout)
        emit(event="friends", jid=user, subscription=await roster_state(me, user, "both", args.timeout))
        other.disconnect()
    me.disconnect()
    await asyncio.sleep(0.2)


async def echo(args):
    c = connect(args, args.jid, args.password)
    got = c.messages
    await asyncio.wait_for(c.ready, args.timeout)
    emit(event="ready", jid=str(c.boundjid))
    answered = 0
    end = asyncio.get_event_loop().time() + args.timeout
    while answered < args.count:
        m = await asyncio.wait_for(got.get(), max(0.1, end - asyncio.get_event_loop().time()))
        if m["type"] not in ("chat", "normal") or not m["body"]:
            continue
        emit(event="message", frm=str(m["from"]), body=m["body"])
        c.send_message(mto=m["from"], mbody="echo: " + m["body"], mtype="chat")
        answered += 1
    await asyncio.sleep(0.5)
    c.disconnect()
    await asyncio.sleep(0.2)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("scenario", choices=["befriend", "echo"])
    add_connection_args(p)
    p.add_argument("--contacts", nargs="*", default=[], help="user@domain:password of each contact")
    p.add_argument("--count", type=int, default=1)
    args = p.parse_args()
    try:
        asyncio.run({"befriend": befriend, "echo": echo}[args.scenario](args))
    except Exception as e:  # report, so the Go side shows what broke
        emit(event="error", error=type(e).__name__ + ": " + str(e))
        sys.exit(1)


if __name__ == "__main__":
    main()
