#!/usr/bin/python3
"""Group chat (XEP-0045) driven with slixmpp's xep_0045 and xep_0249
plugins, and raw stanzas where they lack a case.

Scenarios:
  family   a family's room on one server: creation, configuration, bad
           forms, members-only, invitations (mediated and direct),
           history on join, subject, stanza-id and occupant-id, private
           messages, self-ping, nick change, bad input, kick.
  after    the same room after a restart: configuration, affiliations,
           subject and history are still there.
  roles    the owner list and the presence broadcast of the configuration
           form (muc#roomconfig_roomowners, _presencebroadcast): a second
           owner named in the form, a participant nobody sees join.
  visit    a user waits for a direct invitation (XEP-0249) to a room on
           another server (federation), joins it and talks with whoever is
           there: --room, --nick, --peer-nick.
  host     creates a room, open or with one member (--member), invites a
           visitor from another server (--invite), waits for it and talks
           with it: --room, --nick, --peer-nick.

Every observation is one JSON line (driver.emit); the Go tests
(muc_test.go) assert on them.
"""
import argparse
import asyncio
import sys
from datetime import datetime, timedelta, timezone

from slixmpp.exceptions import PresenceError
from slixmpp.xmlstream import ET

from slix import Client, condition, emit

NS_MUC = "http://jabber.org/protocol/muc"
NS_USER = NS_MUC + "#user"
NS_SID = "urn:xmpp:sid:0"
NS_OID = "urn:xmpp:occupant-id:0"


class MucClient(Client):
    """A client with the MUC plugins that queues what rooms send it."""

    def __init__(self, jid, password, ca):
        super().__init__(jid, password, None, ca)
        for p in ("xep_0030", "xep_0045", "xep_0199", "xep_0249", "xep_0004", "xep_0059", "xep_0297", "xep_0313"):
            self.register_plugin(p)
        self.groupchat = asyncio.Queue()
        self.private = asyncio.Queue()
        self.invites = asyncio.Queue()
        self.presences = asyncio.Queue()
        self.errors = asyncio.Queue()
        self.presence_errors = asyncio.Queue()
        self.add_event_handler("presence_error", self.presence_errors.put_nowait)
        self.add_event_handler("groupchat_message", self.groupchat.put_nowait)
        self.add_event_handler("groupchat_invite", self.invites.put_nowait)
        self.add_event_handler("groupchat_direct_invite", self.invites.put_nowait)
        self.add_event_handler("groupchat_presence", self.presences.put_nowait)
        self.add_event_handler("message_error", self.errors.put_nowait)
        self.add_event_handler("message", self._message)

    def _message(self, msg):
        if msg["type"] in ("chat", "normal") and msg["from"].resource and msg.xml.find("{%s}x" % NS_USER) is not None:
            self.private.put_nowait(msg)


async def login(args, jid, password, host=None, ca=None):
    c = MucClient(jid, password, ca or args.ca)
    c.connect(address=(host or args.host, 5222))
    await asyncio.wait_for(c.ready, args.timeout)
    return c


async def next_item(q, pred=lambda _: True, timeout=10):
    """The next item of q for which pred holds, or None."""
    end = asyncio.get_event_loop().time() + timeout
    while True:
        left = end - asyncio.get_event_loop().time()
        if left <= 0:
            return None
        try:
            item = await asyncio.wait_for(q.get(), left)
        except asyncio.TimeoutError:
            return None
        if pred(item):
            return item


def codes(stanza):
    x = stanza.xml.find("{%s}x" % NS_USER)
    if x is None:
        return []
    return sorted(int(s.get("code")) for s in x.findall("{%s}status" % NS_USER))


def item(stanza):
    x = stanza.xml.find("{%s}x" % NS_USER)
    it = None if x is None else x.find("{%s}item" % NS_USER)
    if it is None:
        return {}
    return {k: it.get(k) for k in ("affiliation", "role", "jid", "nick") if it.get(k)}


async def join(c, room, nick, timeout=15, **kw):
    """Joins; "ok" and the join result, or the presence error's condition."""
    try:
        return "ok", await c["xep_0045"].join_muc_wait(room, nick, timeout=timeout, **kw)
    except PresenceError as e:
        return e.presence["error"]["condition"], None
    except asyncio.TimeoutError:
        return "timeout", None


def emit_join(who, res, got):
    if res != "ok":
        emit(event="join", who=who, result=res)
        return
    pres, subject, occupants, history = got
    emit(event="join", who=who, result=res, nick=pres["from"].resource, codes=codes(pres), item=item(pres),
         occupants=sorted(p["from"].resource for p in occupants),
         history=[m["body"] for m in history],
         delayed=all(m.xml.find("{urn:xmpp:delay}delay") is not None for m in history),
         subject=subject["subject"])


async def raw_iq(c, typ, to, xml):
    iq = c.make_iq_set() if typ == "set" else c.make_iq_get()
    iq["to"] = to
    iq.append(ET.fromstring(xml))
    return await condition(iq.send(timeout=10))


async def config_name(c, room):
    res, form = await condition(c["xep_0045"].get_room_config(room))
    return form.get_values().get("muc#roomconfig_roomname") if res == "ok" else res


def bye(*clients):
    for c in clients:
        c.disconnect()
    return asyncio.sleep(0.3)


async def three(args):
    """alice, bob and carol, logged in."""
    d = args.domain
    return (await login(args, "alice@%s/laptop" % d, "alice-secret"),
            await login(args, "bob@%s/phone" % d, "bob-secret"),
            await login(args, "carol@%s/desk" % d, "carol-secret"))


async def family(args):
    d = args.domain
    room = "family@conference." + d
    alice, bob, carol = await three(args)

    # Creation: a reserved room (§10.1.3), configured with the form.
    res, got = await join(alice, room, "Alice")
    emit_join("alice-create", res, got)
    form = await alice["xep_0045"].get_room_config(room)
    emit(event="config-form", fields=sorted(f for f in form.get_fields() if f != "FORM_TYPE"))
    form.set_values({"muc#roomconfig_roomname": "The family",
                     "muc#roomconfig_roomdesc": "Everyone at home",
                     "muc#roomconfig_membersonly": True,
                     "muc#roomconfig_changesubject": True})
    res, _ = await condition(alice["xep_0045"].set_room_config(room, form))
    emit(event="configured", result=res)
    # Item 7: an unknown field, and an invalid value: bad-request, and
    # nothing changed.
    for name, field in (("unknown", "<field var='muc#roomconfig_nosuch'><value>1</value></field>"),
                        ("invalid", "<field var='muc#roomconfig_persistentroom'><value>perhaps</value></field>")):
        res, _ = await raw_iq(alice, "set", room,
                              "<query xmlns='%s#owner'><x xmlns='jabber:x:data' type='submit'>"
                              "<field var='FORM_TYPE'><value>%s#roomconfig</value></field>"
                              "<field var='muc#roomconfig_roomname'><value>Hijacked</value></field>%s"
                              "</x></query>" % (NS_MUC, NS_MUC, field))
        emit(event="bad-form", kind=name, result=res, name=await config_name(alice, room))

    info = await alice["xep_0030"].get_info(room)
    emit(event="disco", features=sorted(info["disco_info"]["features"]),
         form=info["disco_info"].xml.find("{jabber:x:data}x") is not None)

    alice["xep_0045"].set_subject(room, "Christmas dinner")
    for i in range(3):
        alice.send_message(mto=room, mbody="message %d" % i, mtype="groupchat")
    for _ in range(4):
        await next_item(alice.groupchat)

    # Members only: carol is refused; bob is invited (mediated), which
    # makes him a member, and joins with two messages of history.
    res, _ = await join(carol, room, "Carol")
    emit(event="join", who="carol-refused", result=res)
    alice["xep_0045"].invite(room, "bob@" + d, "Come for dinner")
    inv = await next_item(bob.invites)
    emit(event="invite", got=inv is not None,
         frm=inv.xml.find("{%s}x/{%s}invite" % (NS_USER, NS_USER)).get("from") if inv is not None else None,
         reason=inv["muc"]["invite"]["reason"] if inv is not None else None)
    res, got = await join(bob, room, "Bob", maxstanzas=2)
    emit_join("bob", res, got)

    # Talk: alice sees bob's message with the room's stanza-id and bob's
    # occupant-id.
    bob.send_message(mto=room, mbody="hello everyone", mtype="groupchat")
    m = await next_item(alice.groupchat, lambda m: m["body"] == "hello everyone")
    sid = m.xml.find("{%s}stanza-id" % NS_SID) if m is not None else None
    oid = m.xml.find("{%s}occupant-id" % NS_OID) if m is not None else None
    emit(event="groupchat", got=m is not None, frm=str(m["from"]) if m is not None else None,
         stanza_id_by=sid.get("by") if sid is not None else None, occupant_id=oid is not None and bool(oid.get("id")))

    # A private message.
    bob.send_message(mto=room + "/Alice", mbody="psst", mtype="chat")
    pm = await next_item(alice.private)
    emit(event="private", got=pm is not None, frm=str(pm["from"]) if pm is not None else None,
         body=pm["body"] if pm is not None else None)

    # XEP-0410: bob pings himself in the room; carol, not in it, is told so.
    res, _ = await condition(bob["xep_0199"].send_ping(room + "/Bob", timeout=10))
    emit(event="self-ping", who="bob", result=res)
    res, _ = await condition(carol["xep_0199"].send_ping(room + "/Carol", timeout=10))
    emit(event="self-ping", who="carol", result=res)

    # Item 7: a message to a room one is not in.
    carol.send_message(mto=room, mbody="let me in", mtype="groupchat")
    err = await next_item(carol.errors)
    emit(event="outsider-message", result=err["error"]["condition"] if err is not None else None)

    # XEP-0249: alice makes carol a member and invites her directly.
    res, _ = await condition(alice["xep_0045"].set_affiliation(room, "member", jid="carol@" + d))
    emit(event="member", who="carol", result=res)
    alice["xep_0249"].send_invitation("carol@" + d, room, reason="Join us")
    inv = await next_item(carol.invites, lambda m: m.xml.find("{jabber:x:conference}x") is not None
                          and m.xml.find("{%s}x" % NS_USER) is None)
    emit(event="direct-invite", got=inv is not None,
         jid=inv.xml.find("{jabber:x:conference}x").get("jid") if inv is not None else None)
    res, got = await join(carol, room, "Carol", maxstanzas=0)
    emit_join("carol", res, got)

    # Item 7: a 10,000-character nick is refused; the room keeps working.
    while not carol.presence_errors.empty():
        carol.presence_errors.get_nowait()
    # slixmpp ignores the room's presence for its roster, and so for its
    # presence_error event: the plugin's own event carries it.
    carol.add_event_handler("muc::%s::presence-error" % room, carol.presence_errors.put_nowait)
    carol.send_raw("<presence to='%s/%s'><x xmlns='%s'/></presence>" % (room, "n" * 10000, NS_MUC))
    carol.send_raw("<presence to='%s/%s'><x xmlns='%s'/></presence>" % (room, "n" * 200, NS_MUC))
    errs = []
    for _ in range(2):
        p = await next_item(carol.presence_errors)
        errs.append(p["error"]["condition"] if p is not None else None)
    emit(event="long-nick", results=errs)

    # Nick change (303), then a kick (307).
    bob.send_presence(pto=room + "/Bobby")
    p = await next_item(alice.presences, lambda p: p["from"].resource == "Bob" and p["type"] == "unavailable")
    emit(event="nick-change", codes=codes(p) if p is not None else None, new=item(p).get("nick") if p is not None else None)
    alice.send_message(mto=room, mbody="still working", mtype="groupchat")
    m = await next_item(carol.groupchat, lambda m: m["body"] == "still working")
    emit(event="after-bad-input", got=m is not None)
    res, _ = await condition(alice["xep_0045"].set_role(room, "Bobby", "none", reason="bedtime"))
    p = await next_item(bob.presences, lambda p: p["type"] == "unavailable" and p["from"].resource == "Bobby")
    emit(event="kick", result=res, codes=codes(p) if p is not None else None)

    members = await alice["xep_0045"].get_affiliation_list(room, "member")
    emit(event="members", jids=sorted(str(j) for j in members))
    items = await alice["xep_0030"].get_items("conference." + d)
    emit(event="public-rooms", rooms=sorted(str(i[0]) for i in items["disco_items"]["items"]))
    await bye(alice, bob, carol)


async def after(args):
    d = args.domain
    room = "family@conference." + d
    alice = await login(args, "alice@%s/laptop" % d, "alice-secret")
    bob = await login(args, "bob@%s/phone" % d, "bob-secret")
    # XEP-0410: before joining again, bob's self-ping says he is out.
    res, _ = await condition(bob["xep_0199"].send_ping(room + "/Bobby", timeout=10))
    emit(event="self-ping", who="bob", result=res)
    emit(event="config", name=await config_name(alice, room))
    members = await alice["xep_0045"].get_affiliation_list(room, "member")
    emit(event="members", jids=sorted(str(j) for j in members))
    res, got = await join(bob, room, "Bob", maxstanzas=3)
    emit_join("bob", res, got)
    # XEP-0313 on the room's JID: the whole conversation, before the
    # restart too.
    res, iq = await condition(alice["xep_0313"].retrieve(jid=room, rsm={"max": 50}, timeout=10))
    bodies = []
    if res == "ok":
        bodies = [r["mam_result"]["forwarded"]["stanza"]["body"] for r in iq["mam"]["results"]]
    emit(event="archive", result=res, bodies=bodies)
    await bye(alice, bob)


async def roles(args):
    d = args.domain
    room = "lounge@conference." + d
    alice, bob, carol = await three(args)

    res, got = await join(alice, room, "Alice")
    emit_join("alice-create", res, got)
    form = await alice["xep_0045"].get_room_config(room)
    values = form.get_values()
    emit(event="config-form", fields=sorted(f for f in form.get_fields() if f != "FORM_TYPE"),
         types={f: form.get_fields()[f]["type"] for f in ("muc#roomconfig_roomowners", "muc#roomconfig_roomadmins",
                                                          "muc#roomconfig_presencebroadcast", "muc#roomconfig_getmemberlist")},
         owners=[str(j) for j in values.get("muc#roomconfig_roomowners") or []],
         broadcast=values.get("muc#roomconfig_presencebroadcast"),
         getmemberlist=values.get("muc#roomconfig_getmemberlist"))
    form.set_values({"muc#roomconfig_membersonly": False})
    res, _ = await condition(alice["xep_0045"].set_room_config(room, form))
    emit(event="configured", result=res)
    res, got = await join(bob, room, "Bob")
    emit_join("bob", res, got)

    # A second owner, named in the form's owner list.
    form = await alice["xep_0045"].get_room_config(room)
    owners = [str(j) for j in form.get_values().get("muc#roomconfig_roomowners") or []]
    form.set_values({"muc#roomconfig_roomowners": owners + ["bob@" + d]})
    res, _ = await condition(alice["xep_0045"].set_room_config(room, form))
    p = await next_item(bob.presences, lambda p: p["from"].resource == "Bob" and item(p).get("affiliation") == "owner")
    emit(event="owners-set", result=res, item=item(p) if p is not None else None, codes=codes(p) if p is not None else None)
    res, owners = await condition(bob["xep_0045"].get_affiliation_list(room, "owner"))
    emit(event="owner-list", result=res, jids=sorted(str(j) for j in owners) if res == "ok" else None)

    # Only moderators' presence broadcast: carol, a participant, comes in
    # unseen, sees the others and herself (110), and talks.
    form = await alice["xep_0045"].get_room_config(room)
    form.set_values({"muc#roomconfig_presencebroadcast": ["moderator"]})
    res, _ = await condition(alice["xep_0045"].set_room_config(room, form))
    emit(event="broadcast-set", result=res,
         broadcast=(await alice["xep_0045"].get_room_config(room)).get_values().get("muc#roomconfig_presencebroadcast"))
    while not alice.presences.empty():
        alice.presences.get_nowait()
    res, got = await join(carol, room, "Carol")
    emit_join("carol", res, got)
    # The room sends in order: a presence of carol's would come before
    # her message.
    carol.send_message(mto=room, mbody="hello, unseen", mtype="groupchat")
    m = await next_item(alice.groupchat, lambda m: m["body"] == "hello, unseen")
    seen = []
    while not alice.presences.empty():
        p = alice.presences.get_nowait()
        seen.append(p["from"].resource)
    emit(event="unseen", heard=m is not None, presences=seen)
    await bye(alice, bob, carol)


async def host(args):
    """Creates an open room and talks with a visitor from elsewhere."""
    room = args.room
    c = await login(args, args.jid, args.password)
    res, got = await join(c, room, args.nick)
    emit_join("host", res, got)
    form = await c["xep_0045"].get_room_config(room)
    form.set_values({"muc#roomconfig_membersonly": bool(args.member), "muc#roomconfig_persistentroom": True})
    res, _ = await condition(c["xep_0045"].set_room_config(room, form))
    if res == "ok" and args.member:
        res, _ = await condition(c["xep_0045"].set_affiliation(room, "member", jid=args.member))
    emit(event="configured", result=res)
    # XEP-0249: the visitor waits for this before joining, so that it does
    # not create the room itself (Prosody lets anyone create rooms).
    c["xep_0249"].send_invitation(args.invite, room, reason="Come and talk")
    await talk(c, room, args)


async def visit(args):
    """Joins a room elsewhere, once invited to it (XEP-0249), and talks
    with whoever hosts it."""
    room = args.room
    c = await login(args, args.jid, args.password)
    inv = await next_item(c.invites, lambda m: m.xml.find("{jabber:x:conference}x") is not None, timeout=40)
    emit(event="invited", jid=inv.xml.find("{jabber:x:conference}x").get("jid") if inv is not None else None)
    res, got = await join(c, room, args.nick)
    emit_join("visitor", res, got)
    await talk(c, room, args)


async def talk(c, room, args):
    """Says hello once the peer is in, and waits for its hello."""
    p = None
    if args.peer_nick not in c["xep_0045"].get_roster(room):
        p = await next_item(c.presences, lambda p: p["from"].resource == args.peer_nick and p["type"] != "unavailable", timeout=40)
    emit(event="peer-present", ok=p is not None or args.peer_nick in c["xep_0045"].get_roster(room))
    c.send_message(mto=room, mbody="hello from %s" % args.nick, mtype="groupchat")
    m = await next_item(c.groupchat, lambda m: m["from"].resource == args.peer_nick and m["body"].startswith("hello"), timeout=40)
    emit(event="heard", got=m is not None, body=m["body"] if m is not None else None,
         stanza_id=m.xml.find("{%s}stanza-id" % NS_SID) is not None if m is not None else False)
    # Stay until the peer heard us too.
    await asyncio.sleep(args.linger)
    await bye(c)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("scenario", choices=["family", "after", "roles", "host", "visit"])
    p.add_argument("--host", required=True)
    p.add_argument("--domain")
    p.add_argument("--ca", required=True)
    p.add_argument("--jid")
    p.add_argument("--password")
    p.add_argument("--room")
    p.add_argument("--nick")
    p.add_argument("--peer-nick")
    p.add_argument("--member", help="host: keep the room members-only, with this member")
    p.add_argument("--invite", help="host: invite this JID when the room is ready")
    p.add_argument("--linger", type=float, default=3)
    p.add_argument("--timeout", type=float, default=15)
    args = p.parse_args()
    asyncio.get_event_loop().run_until_complete(
        {"family": family, "after": after, "roles": roles, "host": host, "visit": visit}[args.scenario](args))


if __name__ == "__main__":
    sys.exit(main())
