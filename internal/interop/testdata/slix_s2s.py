#!/usr/bin/python3
"""Federation scenarios for roost's interop tests, driven with slixmpp.

"befriend": two users on two servers log in, become contacts (the user
given first asks, the other approves, then the other way round), check
both rosters, see each other's presence, chat both ways, change their
presence and go offline.

"bounce": a user writes to an address whose server cannot be reached and
reports the error that comes back, and how long it took.

Every observation is one JSON line; the Go test asserts on them.
"""
import argparse
import asyncio
import sys
import time

from slix import RosterClient, emit


class FedClient(RosterClient):
    def __init__(self, jid, password, ca, name):
        super().__init__(jid, password, ca, name)
        self.errors = asyncio.Queue()
        self.add_event_handler("message_error", self.errors.put_nowait)

    @property
    def bare(self):
        return self.boundjid.bare

    @property
    def full(self):
        return str(self.boundjid)

    async def wait(self, kind, frm, show=None, timeout=20):
        """Across servers, presence may come from any of frm's resources
        and take longer."""
        return await super().wait(kind, frm, show, timeout, any_resource=True)


async def login(jid, password, host, ca, name, timeout):
    c = FedClient(jid, password, ca, name)
    c.connect(address=(host, 5222))
    await asyncio.wait_for(c.ready, timeout)
    await c.get_roster()
    return c


def step(name, ok):
    emit(event="step", step=name, ok=bool(ok))
    if not ok:
        # Later steps depend on this one: stop instead of timing out on each.
        raise RuntimeError("step failed: " + name)


async def befriend(args):
    one = await login(args.jid1, args.password1, args.host1, args.ca1, "one", args.timeout)
    two = await login(args.jid2, args.password2, args.host2, args.ca2, "two", args.timeout)
    emit(event="login", one=one.full, two=two.full)
    await asyncio.sleep(0.5)

    # The first user asks, the second approves (RFC 6121 §3.1): the first
    # then receives the second's presence (§3.1.5).
    one.send_presence(pto=two.bare, ptype="subscribe")
    step("two receives the subscription request", await two.wait("presence_subscribe", one.bare))
    two.send_presence(pto=one.bare, ptype="subscribed")
    step("one receives the approval", await one.wait("presence_subscribed", two.bare))
    step("one receives two's presence", await one.wait("presence_available", two.full))

    # And the other way round.
    two.send_presence(pto=one.bare, ptype="subscribe")
    step("one receives the subscription request", await one.wait("presence_subscribe", two.bare))
    one.send_presence(pto=two.bare, ptype="subscribed")
    step("two receives the approval", await two.wait("presence_subscribed", one.bare))
    step("two receives one's presence", await two.wait("presence_available", one.full))
    await asyncio.sleep(0.5)
    emit(event="roster", client="one", contact=two.bare, state=one.state(two.bare))
    emit(event="roster", client="two", contact=one.bare, state=two.state(one.bare))

    # Chat both ways.
    one.send_message(mto=two.bare, mbody="hello from " + one.bare, mtype="chat")
    m = await asyncio.wait_for(two.messages.get(), args.timeout)
    emit(event="message", to=str(m["to"]), frm=str(m["from"]), body=m["body"])
    two.send_message(mto=m["from"], mbody="hello back from " + two.bare, mtype="chat")
    m = await asyncio.wait_for(one.messages.get(), args.timeout)
    emit(event="message", to=str(m["to"]), frm=str(m["from"]), body=m["body"])

    # Presence changes, both ways.
    one.send_presence(pshow="away")
    step("two sees one away", await two.wait("changed_status", one.full, show="away"))
    two.send_presence(pshow="dnd")
    step("one sees two busy", await one.wait("changed_status", two.full, show="dnd"))

    # Going offline.
    two.disconnect()
    step("one sees two go offline", await one.wait("presence_unavailable", two.full))
    one.disconnect()
    await asyncio.sleep(0.3)


async def bounce(args):
    one = await login(args.jid1, args.password1, args.host1, args.ca1, "one", args.timeout)
    start = time.monotonic()
    one.send_message(mto=args.to, mbody="anyone there?", mtype="chat")
    try:
        m = await asyncio.wait_for(one.errors.get(), args.timeout)
        emit(event="bounce", frm=str(m["from"]), condition=m["error"]["condition"],
             seconds=time.monotonic() - start)
    except asyncio.TimeoutError:
        emit(event="bounce", frm="", condition="none", seconds=time.monotonic() - start)
    one.disconnect()
    await asyncio.sleep(0.3)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("scenario", choices=["befriend", "bounce"])
    p.add_argument("--jid1", required=True)
    p.add_argument("--password1", required=True)
    p.add_argument("--host1", required=True)
    p.add_argument("--ca1", required=True)
    p.add_argument("--jid2")
    p.add_argument("--password2")
    p.add_argument("--host2")
    p.add_argument("--ca2")
    p.add_argument("--to")
    p.add_argument("--timeout", type=float, default=30)
    args = p.parse_args()
    try:
        asyncio.run({"befriend": befriend, "bounce": bounce}[args.scenario](args))
    except Exception as e:  # report, so the Go side shows what broke
        emit(event="error", error=type(e).__name__ + ": " + str(e))
        sys.exit(1)


if __name__ == "__main__":
    main()
