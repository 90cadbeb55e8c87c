#!/usr/bin/python3
"""What phones rely on: the message archive (XEP-0313), driven with
slixmpp's own plugins, and external services (XEP-0215).

Scenarios:
  history    messages sent while alice's phone was off reach it through
             the archive with the ids they were delivered with; a phone
             and a laptop see the same history; paging both ways.
  bad-input  raw queries: malformed forms, absurd max, unknown ids, a
             flood of queries; the archive stays intact.
  services   the STUN/TURN services and their credentials (XEP-0215), for
             the Go test to try on coturn.
  push       push notifications (XEP-0357) to an app server written here,
             a slixmpp component: alice's phone enables them, loses its
             connection (stream management keeps the session), and a burst
             of messages and a subscription request makes exactly one
             notification; dave's app enables them and is closed (no
             session at all), and a message to dave is notified too; an
             error from the app server disables the registration.
Every observation is one JSON line; the Go tests (mam_test.go,
extdisco_test.go) assert on them.
"""
import argparse
import asyncio
import sys

import slixmpp
from slixmpp.xmlstream import ET
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

from slix import emit
from slix_modules import bye, condition, login, raw_iq

MAM = "urn:xmpp:mam:2"
SID = "{urn:xmpp:sid:0}stanza-id"
PLUGINS = ("xep_0030", "xep_0059", "xep_0297", "xep_0313", "xep_0359", "xep_0280")


def stanza_id(msg, by):
    """The stanza-id by `by` of a message, or None."""
    for el in msg.xml.findall(SID):
        if el.get("by") == by:
            return el.get("id")
    return None


async def page(c, **kw):
    """One archive query; the (id, body) of each result, and the fin."""
    iq = await c["xep_0313"].retrieve(**kw)
    rows = [(m["mam_result"]["id"], m["mam_result"]["forwarded"]["stanza"]["body"]) for m in iq["mam"]["results"]]
    fin = iq.xml.find("{%s}fin" % MAM)
    return rows, {"complete": fin.get("complete"), "stable": fin.get("stable")}


async def walk(c, reverse, amount=2):
    """Every message of the archive, paging with slixmpp's iterator."""
    out = []
    async for m in c["xep_0313"].iterate(reverse=reverse, rsm={"max": amount}):
        out.append((m["mam_result"]["id"], m["mam_result"]["forwarded"]["stanza"]["body"]))
    return out


async def history(args):
    d = args.domain
    alice = "alice@" + d
    bob = await login(args, "bob@%s/pc" % d, "bob-secret", PLUGINS)
    # alice is offline: five messages and a chat state.
    for i in range(1, 6):
        bob.send_message(mto=alice, mbody="m%d" % i, mtype="chat")
    m = bob.make_message(mto=alice, mtype="chat")
    m.append(ET.fromstring("<composing xmlns='http://jabber.org/protocol/chatstates'/>"))
    m.send()
    await asyncio.sleep(1)

    # The phone comes online: offline delivery, then the archive.
    phone = await login(args, alice + "/phone", "alice-secret", PLUGINS)
    delivered = {}
    for _ in range(5):
        msg = await asyncio.wait_for(phone.messages.get(), 10)
        delivered[msg["body"]] = stanza_id(msg, alice)
    emit(event="offline", bodies=sorted(delivered), ids=[delivered[b] for b in sorted(delivered)])
    rows, fin = await page(phone, rsm={"max": 10})
    emit(event="phone-history", bodies=[b for _, b in rows], ids_match=all(delivered.get(b) == i for i, b in rows), fin=fin)

    # The laptop, and a reply from the phone that the laptop sees as a
    # sent carbon, with alice's stanza-id; bob gets none of alice's.
    laptop = await login(args, alice + "/laptop", "alice-secret", PLUGINS)
    await laptop["xep_0280"].enable()
    sent = asyncio.Queue()
    laptop.add_event_handler("carbon_sent", sent.put_nowait)
    phone.send_message(mto="bob@" + d, mbody="r1", mtype="chat")
    carbon = await asyncio.wait_for(sent.get(), 10)
    at_bob = await asyncio.wait_for(bob.messages.get(), 10)
    emit(event="reply", carbon_id=stanza_id(carbon["carbon_sent"], alice),
         bob_sees_alice_id=stanza_id(at_bob, alice), bob_own_id=stanza_id(at_bob, "bob@" + d) is not None)

    phone_rows, _ = await page(phone, rsm={"max": 10})
    laptop_rows, _ = await page(laptop, rsm={"max": 10})
    emit(event="same-history", same=phone_rows == laptop_rows, bodies=[b for _, b in laptop_rows],
         reply_id_match=laptop_rows[-1][0] == stanza_id(carbon["carbon_sent"], alice))

    forward = await walk(laptop, reverse=False)
    backward = await walk(laptop, reverse=True)
    emit(event="paging", forward=[b for _, b in forward], backward=[b for _, b in backward],
         same_ids=[i for i, _ in forward] == [i for i, _ in reversed(backward)] == [i for i, _ in laptop_rows])
    # A page in the middle, each way.
    ids = [i for i, _ in laptop_rows]
    after, fin_after = await page(laptop, rsm={"max": 2, "after": ids[1]})
    before, fin_before = await page(laptop, rsm={"max": 2, "before": ids[4]})
    last, fin_last = await page(laptop, rsm={"max": 2, "after": ids[3]})
    emit(event="pages", after=[b for _, b in after], before=[b for _, b in before], last=[b for _, b in last],
         complete=[fin_after["complete"], fin_before["complete"], fin_last["complete"]])
    with_bob, _ = await page(laptop, with_jid="bob@" + d, rsm={"max": 10})
    with_carol, _ = await page(laptop, with_jid="carol@" + d, rsm={"max": 10})
    emit(event="with", bob=len(with_bob), carol=len(with_carol))
    md = await laptop["xep_0313"].get_archive_metadata()
    emit(event="metadata", start=md["mam_metadata"]["start"]["id"] == ids[0], end=md["mam_metadata"]["end"]["id"] == ids[-1])
    await bye(bob, phone, laptop)


async def bad_input(args):
    d = args.domain
    alice = "alice@" + d
    a = await login(args, alice + "/phone", "alice-secret", PLUGINS)
    b = await login(args, "bob@%s/pc" % d, "bob-secret", PLUGINS)
    for i in range(1, 4):
        b.send_message(mto=alice, mbody="k%d" % i, mtype="chat")
    await asyncio.sleep(1)
    before, _ = await page(a, rsm={"max": 100})

    def form(fields):
        return ("<query xmlns='urn:xmpp:mam:2'><x xmlns='jabber:x:data' type='submit'>"
                "<field var='FORM_TYPE' type='hidden'><value>urn:xmpp:mam:2</value></field>%s</x></query>" % fields)
    cases = {
        "wrong-form-type": "<query xmlns='urn:xmpp:mam:2'><x xmlns='jabber:x:data' type='submit'>"
                           "<field var='FORM_TYPE'><value>urn:xmpp:mam:1</value></field></x></query>",
        "form-not-submitted": "<query xmlns='urn:xmpp:mam:2'><x xmlns='jabber:x:data' type='form'/></query>",
        "bad-field-type": form("<field var='with' type='nonsense'><value>x@y</value></field>"),
        "bad-start": form("<field var='start'><value>last tuesday</value></field>"),
        "bad-with": form("<field var='with'><value>@@@</value></field>"),
        "unknown-field": form("<field var='urn:example:fulltext'><value>x</value></field>"),
        "unknown-after-id": form("<field var='after-id'><value>AAAAAAAAAAAAAAAA</value></field>"),
        "unknown-rsm-before": "<query xmlns='urn:xmpp:mam:2'><set xmlns='http://jabber.org/protocol/rsm'><before>not-an-id</before></set></query>",
        "negative-max": "<query xmlns='urn:xmpp:mam:2'><set xmlns='http://jabber.org/protocol/rsm'><max>-5</max></set></query>",
        "index": "<query xmlns='urn:xmpp:mam:2'><set xmlns='http://jabber.org/protocol/rsm'><index>3</index></set></query>",
    }
    for name, xml in cases.items():
        res, _ = await raw_iq(a, "set", None, xml)
        emit(event="bad", case=name, condition=res)
    res, _ = await raw_iq(a, "set", "bob@" + d, "<query xmlns='urn:xmpp:mam:2'/>")
    emit(event="bad", case="other-archive", condition=res)
    # An absurd max is clamped, not refused.
    rows, fin = await page(a, rsm={"max": "99999999999999999999"})
    emit(event="absurd-max", results=len(rows), complete=fin["complete"])
    # A flood: 200 queries at once, each answered, none unbounded.
    async def one():
        r, _ = await page(a, rsm={"max": 2})
        return len(r)
    counts = await asyncio.gather(*[one() for _ in range(200)], return_exceptions=True)
    emit(event="flood", answered=sum(1 for c in counts if c == 2), errors=[str(c) for c in counts if not isinstance(c, int)][:3])
    after, _ = await page(a, rsm={"max": 100})
    emit(event="intact", same=after == before, count=len(after))
    await bye(a, b)


async def services(args):
    a = await login(args, "alice@%s/phone" % args.domain, "alice-secret", ())
    res, iq = await raw_iq(a, "get", args.domain, "<services xmlns='urn:xmpp:extdisco:2'/>")
    found = []
    if res == "ok":
        for s in iq.xml.findall("{urn:xmpp:extdisco:2}services/{urn:xmpp:extdisco:2}service"):
            found.append({k: s.get(k) for k in ("type", "host", "port", "transport", "username", "password", "expires", "restricted")})
    emit(event="services", result=res, services=found)
    res, iq = await raw_iq(a, "get", args.domain,
                           "<credentials xmlns='urn:xmpp:extdisco:2'><service host='%s' type='turn'/></credentials>" % args.turn_host)
    cred = iq.xml.find("{urn:xmpp:extdisco:2}credentials/{urn:xmpp:extdisco:2}service") if res == "ok" else None
    emit(event="credentials", result=res, username=cred.get("username") if cred is not None else None)
    await bye(a)


NS_PUBSUB = "http://jabber.org/protocol/pubsub"
NS_DATA = "jabber:x:data"


class AppServer(slixmpp.ComponentXMPP):
    """An XMPP push service (XEP-0357 §2): records each publish, answers
    with a result, or with an error once told to fail."""

    def __init__(self, jid, secret, host, port):
        super().__init__(jid, secret, host, port)
        self.ready = asyncio.get_event_loop().create_future()
        self.notes = asyncio.Queue()
        self.fail = False
        self.add_event_handler("session_start", lambda _: self.ready.done() or self.ready.set_result(True))
        self.register_handler(Callback("publish", MatchXPath("{%s}iq/{%s}pubsub" % (self.default_ns, NS_PUBSUB)), self._publish))

    def _publish(self, iq):
        ps = iq.xml.find("{%s}pubsub" % NS_PUBSUB)
        pub = ps.find("{%s}publish" % NS_PUBSUB)
        fields = {}
        for f in ps.iter("{%s}field" % NS_DATA):
            v = f.find("{%s}value" % NS_DATA)
            fields[f.get("var")] = v.text if v is not None else None
        summary = {k: fields.get(k) for k in ("message-count", "pending-subscription-count", "last-message-sender", "last-message-body")}
        self.notes.put_nowait({"from": str(iq["from"]), "node": pub.get("node"), "summary": summary, "secret": fields.get("secret")})
        reply = iq.reply(clear=True)
        if self.fail:
            reply["type"] = "error"
            reply["error"]["type"] = "cancel"
            reply["error"]["condition"] = "item-not-found"
        reply.send()


async def notes_within(app, seconds):
    out = []
    end = asyncio.get_event_loop().time() + seconds
    while True:
        left = end - asyncio.get_event_loop().time()
        if left <= 0:
            return out
        try:
            out.append(await asyncio.wait_for(app.notes.get(), left))
        except asyncio.TimeoutError:
            return out


async def push(args):
    d = args.domain
    alice = "alice@" + d
    app = AppServer(args.component, args.secret, args.host, args.component_port)
    app.connect()
    await asyncio.wait_for(app.ready, args.timeout)
    phone = await login(args, alice + "/phone", "alice-secret", ("xep_0198",))
    bob = await login(args, "bob@%s/pc" % d, "bob-secret")
    carol = await login(args, "carol@%s/pc" % d, "carol-secret")
    sm = phone["xep_0198"]
    for _ in range(50):
        if sm.enabled_in and sm.sm_id:
            break
        await asyncio.sleep(0.1)
    enable = ("<enable xmlns='urn:xmpp:push:0' jid='%s' node='n1'><x xmlns='jabber:x:data' type='submit'>"
              "<field var='FORM_TYPE'><value>http://jabber.org/protocol/pubsub#publish-options</value></field>"
              "<field var='secret'><value>app-s3cret</value></field></x></enable>") % args.component
    # The unreachable one first: Prosody notifies, for a hibernated
    # session, only the registration that session enabled last.
    res, _ = await raw_iq(phone, "set", None, "<enable xmlns='urn:xmpp:push:0' jid='push.nowhere.example' node='n2'/>")
    emit(event="enable-unreachable", result=res)
    res, _ = await raw_iq(phone, "set", None, enable)
    emit(event="enable", result=res)

    # Online: nothing is pushed.
    bob.send_message(mto=alice, mbody="while you look", mtype="chat")
    emit(event="awake", notes=len(await notes_within(app, 1.5)))

    # Offline: dave's app enables notifications, then it is closed and its
    # session ends; a message to dave is notified to its node.
    dave = await login(args, "dave@%s/phone" % d, "dave-secret")
    res, _ = await raw_iq(dave, "set", None, enable.replace("node='n1'", "node='n3'"))
    emit(event="enable-offline", result=res)
    closed = asyncio.Event()
    dave.add_event_handler("disconnected", lambda _: closed.set())
    dave.disconnect()
    await asyncio.wait_for(closed.wait(), 10)
    await asyncio.sleep(0.5)
    bob.send_message(mto="dave@" + d, mbody="while you were out", mtype="chat")
    emit(event="offline", notes=await notes_within(app, 3))

    # The phone's network goes away; roost keeps the session (XEP-0198).
    gone = asyncio.Event()
    phone.add_event_handler("disconnected", lambda _: gone.set())
    phone.transport.abort()
    await asyncio.wait_for(gone.wait(), 10)
    await asyncio.sleep(1)
    for i in range(3):
        bob.send_message(mto=alice, mbody="burst %d" % i, mtype="chat")
    carol.send_presence(pto=alice, ptype="subscribe")
    notes = await notes_within(app, 3)
    emit(event="burst", notes=notes)

    # Another message later: a new burst; the app server now fails.
    app.fail = True
    bob.send_message(mto=alice, mbody="later", mtype="chat")
    emit(event="failing", notes=await notes_within(app, 3))
    # Disabled: nothing more.
    bob.send_message(mto=alice, mbody="after the error", mtype="chat")
    emit(event="disabled", notes=len(await notes_within(app, 3)))
    await bye(bob, carol)
    app.disconnect()
    await asyncio.sleep(0.2)


def main():
    scenarios = {"history": history, "bad-input": bad_input, "services": services, "push": push}
    p = argparse.ArgumentParser()
    p.add_argument("scenario", choices=sorted(scenarios))
    p.add_argument("--host", required=True)
    p.add_argument("--domain", required=True)
    p.add_argument("--ca", required=True)
    p.add_argument("--turn-host", default="")
    p.add_argument("--component", default="")
    p.add_argument("--component-port", type=int, default=5347)
    p.add_argument("--secret", default="")
    p.add_argument("--timeout", type=float, default=15)
    args = p.parse_args()
    try:
        asyncio.run(scenarios[args.scenario](args))
    except Exception as e:  # report, so the Go side shows what broke
        emit(event="error", error=type(e).__name__ + ": " + str(e))
        sys.exit(1)


if __name__ == "__main__":
    main()
