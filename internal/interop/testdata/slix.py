#!/usr/bin/python3
"""slixmpp driver for roost's interoperability tests.

Each subcommand runs one scenario against a server and prints one JSON
object per line describing what happened; the Go test asserts on them.
Run with Debian's /usr/bin/python3 (python3-slixmpp).
"""
import argparse
import asyncio
import sys

import slixmpp
from slixmpp.exceptions import IqError, IqTimeout

from driver import add_connection_args, emit


async def condition(coro):
    """Runs an IQ; "ok" and the result, or the error condition."""
    try:
        return "ok", await coro
    except IqError as e:
        return e.iq["error"]["condition"], e.iq
    except IqTimeout:
        return "timeout", None


class Client(slixmpp.ClientXMPP):
    def __init__(self, jid, password, mech, ca):
        kw = {}
        if mech:
            kw["sasl_mech"] = mech
        super().__init__(jid, password, **kw)
        self.ca_certs = ca
        loop = asyncio.get_event_loop()
        self.ready = loop.create_future()
        self.messages = asyncio.Queue()
        self.register_plugin("xep_0199")
        self.add_event_handler("session_start", self._start)
        self.add_event_handler("failed_all_auth", self._failed)
        self.add_event_handler("message", self.messages.put_nowait)
        self.add_event_handler("auth_success", self._authed)
        self.mechanism = None

    def _authed(self, _):
        mech = self.plugin["feature_mechanisms"].mech
        self.mechanism = mech.name if mech else None

    async def _start(self, _):
        self.send_presence()
        if not self.ready.done():
            self.ready.set_result(True)

    def _failed(self, _):
        if not self.ready.done():
            self.ready.set_exception(PermissionError("authentication failed"))


class RosterClient(Client):
    """A client that answers no subscription by itself (the scenario
    decides) and records presence events, to wait for them and read roster
    states."""

    def __init__(self, jid, password, ca, name):
        super().__init__(jid, password, None, ca)
        self.name = name
        self.roster.auto_authorize = None
        self.roster.auto_subscribe = False
        self.events = asyncio.Queue()
        for ev in ("presence_subscribe", "presence_subscribed", "presence_available",
                   "presence_unavailable", "changed_status"):
            self.add_event_handler(ev, self._presence(ev))

    def _presence(self, kind):
        def handler(p):
            self.events.put_nowait((kind, str(p["from"]), p["show"] if kind == "changed_status" else ""))
        return handler

    async def wait(self, kind, frm, show=None, timeout=10, any_resource=False):
        """Wait for a presence event of kind from frm (with any_resource,
        from any resource of the bare JID frm); True if seen."""
        end = asyncio.get_event_loop().time() + timeout
        while True:
            left = end - asyncio.get_event_loop().time()
            if left <= 0:
                return False
            try:
                k, f, s = await asyncio.wait_for(self.events.get(), left)
            except asyncio.TimeoutError:
                return False
            if k == kind and (f == frm or (any_resource and f.split("/")[0] == frm)) and (show is None or s == show):
                return True

    def state(self, contact):
        """The roster state of contact as this client sees it."""
        if contact not in self.client_roster:
            return "absent"
        item = self.client_roster[contact]
        s = item["subscription"]
        if item["pending_out"]:
            s += "+ask"
        return s


def connect(args, jid, password, mech, plugins=()):
    c = Client(jid, password, mech, args.ca)
    for name in plugins:
        c.register_plugin(name)
    if args.alpn:
        # XEP-0368: offer the ALPN protocol, as on a port shared with HTTPS.
        c.ssl_context.set_alpn_protocols([args.alpn])
    c.connect(address=(args.host, args.port), use_ssl=args.direct_tls)
    return c


async def login(args):
    c = connect(args, args.jid, args.password, args.mech)
    try:
        await asyncio.wait_for(c.ready, args.timeout)
        emit(event="login", jid=str(c.boundjid), mechanism=c.mechanism)
    except PermissionError:
        emit(event="auth-failed")
    c.disconnect()
    await asyncio.sleep(0.2)


async def chat(args):
    a = connect(args, args.jid, args.password, args.mech)
    b = connect(args, args.jid2, args.password2, args.mech2)
    await asyncio.wait_for(asyncio.gather(a.ready, b.ready), args.timeout)
    emit(event="login", jid=str(a.boundjid), mechanism=a.mechanism)
    emit(event="login", jid=str(b.boundjid), mechanism=b.mechanism)
    a.send_message(mto=b.boundjid.bare, mbody="hello from " + a.boundjid.user, mtype="chat")
    m = await asyncio.wait_for(b.messages.get(), args.timeout)
    emit(event="message", to=str(m["to"]), frm=str(m["from"]), body=m["body"], type=m["type"])
    b.send_message(mto=m["from"], mbody="hello back", mtype="chat")
    m = await asyncio.wait_for(a.messages.get(), args.timeout)
    emit(event="message", to=str(m["to"]), frm=str(m["from"]), body=m["body"], type=m["type"])
    rtt = await a["xep_0199"].ping(a.boundjid.domain, timeout=args.timeout)
    emit(event="ping", ok=rtt is not None)
    a.disconnect()
    b.disconnect()
    await asyncio.sleep(0.2)


async def client(args):
    """One seat of the client matrix: log in with stream management and
    carbons, send args.send to args.peer, and wait for a reply from it."""
    c = connect(args, args.jid, args.password, args.mech, ("xep_0198", "xep_0280"))
    await asyncio.wait_for(c.ready, args.timeout)
    emit(event="login", jid=str(c.boundjid), mechanism=c.mechanism)
    await c["xep_0280"].enable(timeout=args.timeout)
    emit(event="carbons", enabled=True)
    c.send_message(mto=args.peer, mbody=args.send, mtype="chat")
    while True:
        m = await asyncio.wait_for(c.messages.get(), args.timeout)
        if m["body"] and m["from"].bare == args.peer:
            break
    emit(event="message", frm=str(m["from"]), body=m["body"])
    c.disconnect()
    await asyncio.sleep(0.2)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("scenario", choices=["login", "chat", "client"])
    add_connection_args(p)
    p.add_argument("--alpn", default=None)
    p.add_argument("--mech", default=None)
    p.add_argument("--jid2")
    p.add_argument("--password2")
    p.add_argument("--mech2", default=None)
    p.add_argument("--peer")
    p.add_argument("--send")
    args = p.parse_args()
    try:
        asyncio.run({"login": login, "chat": chat, "client": client}[args.scenario](args))
    except Exception as e:  # report, so the Go side shows what broke
        emit(event="error", error=type(e).__name__ + ": " + str(e))
        sys.exit(1)


if __name__ == "__main__":
    main()
