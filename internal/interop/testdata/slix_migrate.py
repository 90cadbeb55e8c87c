#!/usr/bin/python3
"""Moving in (roost import): a family's data made on one server, found on
another, driven with slixmpp's own plugins.

Phase "fill" runs against the old server (Prosody or ejabberd): alice,
bob and carol log in and make what a family has: alice and bob become
contacts (alice names bob and puts him in a group), carol asks alice for
her presence and gets no answer yet, bob asks carol and gets none either;
vCards, private XML (XEP-0049), a block list (XEP-0191), PEP nodes
(XEP-0163: a tune and a node of several items, with --pep), a chat between
alice and bob that the server archives (XEP-0313, with --mam; the Go
test reads roost's archive from its data file), and, while
carol is offline, messages to her that wait in offline storage.

Phase "check" runs against roost after the import: every member logs in
with the old password and reports what they find. Every observation is
one JSON line; the Go test (migrate_test.go) asserts on them.
"""
import argparse
import asyncio

from slixmpp.exceptions import IqError, IqTimeout
from slixmpp.xmlstream import ET, ElementBase, register_stanza_plugin
from slixmpp.plugins.xep_0049.stanza import PrivateXML

from slix import RosterClient, emit
from slix_pep import TUNE, publish_options, tune

LIST = "urn:example:family-list"
PLUGINS = ("xep_0004", "xep_0030", "xep_0045", "xep_0049", "xep_0054", "xep_0060", "xep_0191", "xep_0203", "xep_0313")


class Notes(ElementBase):
    """Private XML a client keeps (XEP-0049)."""
    name = "notes"
    namespace = "urn:example:notes"
    plugin_attrib = "notes"
    interfaces = {"text"}
    sub_interfaces = {"text"}


register_stanza_plugin(PrivateXML, Notes)


class Member(RosterClient):
    def __init__(self, jid, password, ca, name):
        super().__init__(jid, password, ca, name)
        for p in PLUGINS:
            self.register_plugin(p)
        self.subscribe_requests = []
        self.add_event_handler("presence_subscribe", lambda p: self.subscribe_requests.append(p["from"].bare))


def contacts(c):
    """The roster as the server sent it: slixmpp also keeps an entry, with
    no subscription and no request, for every address it hears from."""
    return {j: c.state(j) for j in c.client_roster if c.state(j) != "none"}


async def login(args, user, password):
    c = Member("%s@%s/%s" % (user, args.domain, args.resource), password, args.ca, user)
    c.connect(address=(args.host, 5222))
    try:
        await asyncio.wait_for(c.ready, args.timeout)
    except PermissionError:
        emit(event="login", user=user, ok=False)
        raise
    emit(event="login", user=user, ok=True, mechanism=c.mechanism)
    await c.get_roster()
    return c


def entry(text):
    e = ET.Element("{%s}entry" % LIST)
    e.text = text
    return e


async def fill(args):
    d = args.domain
    alice = await login(args, "alice", args.alice)
    bob = await login(args, "bob", args.bob)
    carol = await login(args, "carol", args.carol)

    # alice and bob: contacts both ways, named and grouped by alice.
    alice.update_roster("bob@" + d, name="Bob", groups=["Family"])
    await asyncio.sleep(0.3)
    alice.send_presence_subscription(pto="bob@" + d)
    await bob.wait("presence_subscribe", "alice@" + d)
    bob.send_presence(pto="alice@" + d, ptype="subscribed")
    bob.send_presence_subscription(pto="alice@" + d)
    await alice.wait("presence_subscribe", "bob@" + d)
    alice.send_presence(pto="bob@" + d, ptype="subscribed")
    await asyncio.sleep(0.5)
    # carol asks alice, bob asks carol: nobody answers (pending requests).
    carol.send_presence_subscription(pto="alice@" + d)
    await alice.wait("presence_subscribe", "carol@" + d)
    bob.send_presence_subscription(pto="carol@" + d)
    await carol.wait("presence_subscribe", "bob@" + d)
    await asyncio.sleep(0.5)
    emit(event="roster", user="alice", items={j: alice.state(j) for j in ("bob@" + d,)})

    # Profiles, private XML, a block list.
    for c, fn in ((alice, "Alice Liddell"), (bob, "Bob Builder")):
        vc = c["xep_0054"].make_vcard()
        vc["FN"] = fn
        vc["NICKNAME"] = fn.split()[0]
        await c["xep_0054"].publish_vcard(vc)
    notes = Notes()
    notes["text"] = "buy milk"
    await alice["xep_0049"].store(notes)
    await alice["xep_0191"].block("spam@spam.example")
    emit(event="filled", what="profiles")

    if args.pep:
        await alice["xep_0060"].publish(None, TUNE, id="current", payload=tune("Yellow Submarine"))
        for i in range(3):
            await alice["xep_0060"].publish(None, LIST, id="e%d" % i, payload=entry("item %d" % i),
                                            options=publish_options(alice, {"pubsub#max_items": "10",
                                                                    "pubsub#access_model": "open"}))
        emit(event="filled", what="pep")

    if args.mam:
        for i in range(3):
            alice.send_message(mto="bob@" + d, mbody="archived %d" % i, mtype="chat")
            await asyncio.wait_for(bob.messages.get(), args.timeout)
        emit(event="filled", what="mam")

    if args.muc:
        # A persistent room with a name, a subject, a member and an
        # outcast (XEP-0045 §10.1.3, §8.1, §9.3, §9.1).
        room = "kitchen@" + args.muc
        await alice["xep_0045"].join_muc_wait(room, "Alice", timeout=args.timeout)
        form = await alice["xep_0045"].get_room_config(room)
        form.set_values({"muc#roomconfig_roomname": "Kitchen", "muc#roomconfig_persistentroom": True,
                         "muc#roomconfig_membersonly": True})
        await alice["xep_0045"].set_room_config(room, form)
        alice["xep_0045"].set_subject(room, "Sunday lunch")
        await asyncio.sleep(0.3)
        await alice["xep_0045"].set_affiliation(room, "member", jid="bob@" + d, reason="family")
        await alice["xep_0045"].set_affiliation(room, "outcast", jid="spam@spam.example", reason="spam")
        alice["xep_0045"].leave_muc(room, "Alice")
        await asyncio.sleep(0.3)
        emit(event="filled", what="muc")

    # carol goes away; alice and bob write to her.
    carol.disconnect()
    await asyncio.sleep(1)
    alice.send_message(mto="carol@" + d, mbody="dinner at 7", mtype="chat")
    bob.send_message(mto="carol@" + d, mbody="bring the cake", mtype="normal")
    await asyncio.sleep(1)
    emit(event="filled", what="offline")
    alice.disconnect()
    bob.disconnect()
    await asyncio.sleep(0.5)


async def check(args):
    d = args.domain
    carol = await login(args, "carol", args.carol)
    # Offline messages arrive after the initial presence.
    got = []
    try:
        while len(got) < 2:
            m = await asyncio.wait_for(carol.messages.get(), args.timeout)
            if m["body"]:
                got.append({"from": m["from"].bare, "body": m["body"], "type": m["type"],
                            "delayed": bool(m["delay"]["stamp"])})
    except asyncio.TimeoutError:
        pass
    emit(event="offline", user="carol", messages=sorted(got, key=lambda m: m["body"]))
    emit(event="roster", user="carol", items=contacts(carol))
    # carol's pending request from bob comes again at her initial presence.
    await asyncio.sleep(1)
    emit(event="requests", user="carol", requests=sorted(set(carol.subscribe_requests)))

    alice = await login(args, "alice", args.alice)
    await asyncio.sleep(1)
    items = {}
    for j in contacts(alice):
        it = alice.client_roster[j]
        items[j] = {"state": alice.state(j), "name": it["name"], "groups": sorted(it["groups"])}
    emit(event="roster", user="alice", items=items)
    emit(event="requests", user="alice", requests=sorted(set(alice.subscribe_requests)))
    vc = await alice["xep_0054"].get_vcard(alice.boundjid.bare, cached=False)
    nick = vc["vcard_temp"]["NICKNAME"]  # a list in some slixmpp versions
    emit(event="vcard", user="alice", fn=vc["vcard_temp"]["FN"], nickname=nick[0] if isinstance(nick, list) else nick)
    res = await alice["xep_0049"].retrieve("notes")
    emit(event="private", user="alice", notes=res["private"]["notes"]["text"])
    blocked = (await alice["xep_0191"].get_blocked())["blocklist"]["items"]
    emit(event="blocklist", user="alice", jids=sorted(str(j) for j in blocked))

    if args.pep:
        res = await alice["xep_0060"].get_items(None, TUNE)
        titles = [it["payload"].findtext("{%s}title" % TUNE) for it in res["pubsub"]["items"]]
        emit(event="pep", user="alice", node=TUNE, items=titles)
        res = await alice["xep_0060"].get_items(None, LIST)
        ids = [it["id"] for it in res["pubsub"]["items"]]
        texts = [it["payload"].text for it in res["pubsub"]["items"]]
        emit(event="pep", user="alice", node=LIST, ids=sorted(ids), items=sorted(texts))
        conf = await alice["xep_0060"].get_node_config(None, LIST)
        values = conf["pubsub_owner"]["configure"]["form"].get_values()
        emit(event="pep-config", user="alice", node=LIST, access=values.get("pubsub#access_model"),
             max_items=str(values.get("pubsub#max_items")))

    bob = await login(args, "bob", args.bob)
    await asyncio.sleep(1)
    emit(event="roster", user="bob", items=contacts(bob))
    vc = await bob["xep_0054"].get_vcard(bob.boundjid.bare, cached=False)
    emit(event="vcard", user="bob", fn=vc["vcard_temp"]["FN"])
    # The contacts see each other come online: the subscriptions work.
    alice.send_presence(pstatus="moved in")
    emit(event="presence", user="bob", saw_alice=await bob.wait("presence_available", "alice@" + d, any_resource=True))
    for c in (alice, bob, carol):
        c.disconnect()
    await asyncio.sleep(0.5)


async def wrong_password(args):
    c = Member("alice@%s/%s" % (args.domain, args.resource), args.alice + "-not", args.ca, "alice")
    c.connect(address=(args.host, 5222))
    try:
        await asyncio.wait_for(c.ready, args.timeout)
        emit(event="login", user="alice", ok=True)
    except (PermissionError, asyncio.TimeoutError):
        emit(event="login", user="alice", ok=False)
    c.disconnect()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("phase", choices=("fill", "check", "wrong-password"))
    p.add_argument("--host", required=True)
    p.add_argument("--domain", required=True)
    p.add_argument("--ca", required=True)
    p.add_argument("--alice", required=True)
    p.add_argument("--bob", required=True)
    p.add_argument("--carol", required=True)
    p.add_argument("--resource", default="phone")
    p.add_argument("--pep", action="store_true")
    p.add_argument("--mam", action="store_true")
    p.add_argument("--muc", default="", help="the group chat service: fill makes a room there")
    p.add_argument("--timeout", type=float, default=15)
    args = p.parse_args()
    phases = {"fill": fill, "check": check, "wrong-password": wrong_password}
    asyncio.get_event_loop().run_until_complete(phases[args.phase](args))


if __name__ == "__main__":
    main()
