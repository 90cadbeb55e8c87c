#!/usr/bin/python3
"""Everyday server features, driven with slixmpp's own plugins.

Scenarios: service discovery and entity capabilities (XEP-0030, XEP-0115),
version (XEP-0092), last activity (XEP-0012), vCards (XEP-0054), private
storage (XEP-0049 through XEP-0048 bookmarks), blocking (XEP-0191), in-band
registration (XEP-0077), client state indication (XEP-0352) and stream
management (XEP-0198). Every
observation is one JSON line; the Go test (modules_test.go) asserts on them.
"""
import argparse
import asyncio
import sys

from slixmpp.plugins.xep_0048.stanza import Bookmarks
from slixmpp.stanza import StreamFeatures
from slixmpp.xmlstream import ET
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

from slix import Client, condition, emit

NS_BLOCKED = "{urn:xmpp:blocking:errors}blocked"


class ModClient(Client):
    """A client with the given plugins that records presence and errors."""

    def __init__(self, jid, password, ca, plugins=(), presence=True):
        super().__init__(jid, password, None, ca)
        self.with_presence = presence
        for p in plugins:
            self.register_plugin(p)
        self.seen = []  # (event, from), in order
        self.changed = asyncio.Event()
        for ev in ("presence_available", "presence_unavailable", "changed_status"):
            self.add_event_handler(ev, self._presence(ev))
        self.errors = asyncio.Queue()
        self.add_event_handler("message_error", self.errors.put_nowait)

    def _presence(self, kind):
        def handler(p):
            self.seen.append((kind, str(p["from"])))
            self.changed.set()
        return handler

    async def _start(self, _):
        if self.with_presence:
            self.send_presence()
        if not self.ready.done():
            self.ready.set_result(True)

    def mark(self):
        return len(self.seen)

    async def wait(self, kinds, frm, since=0, timeout=10):
        """True once a presence event of one of kinds from frm has been seen
        after mark since."""
        loop = asyncio.get_event_loop()
        end = loop.time() + timeout
        while True:
            if any(k in kinds and f == frm for k, f in self.seen[since:]):
                return True
            left = end - loop.time()
            if left <= 0:
                return False
            self.changed.clear()
            try:
                await asyncio.wait_for(self.changed.wait(), left)
            except asyncio.TimeoutError:
                pass


async def login(args, jid, password, plugins=(), presence=True):
    c = ModClient(jid, password, args.ca, plugins, presence)
    c.connect(address=(args.host, 5222))
    await asyncio.wait_for(c.ready, args.timeout)
    await c.get_roster()
    return c


async def raw_iq(c, typ, to, xml):
    iq = c.make_iq_set() if typ == "set" else c.make_iq_get()
    if to:
        iq["to"] = to
    iq.append(ET.fromstring(xml))
    return await condition(iq.send(timeout=10))


async def befriend(a, b):
    """Mutual subscription, with slixmpp answering requests by itself."""
    a.send_presence(pto=b.boundjid.bare, ptype="subscribe")
    for _ in range(100):
        if (a.client_roster[b.boundjid.bare]["subscription"] == "both"
                and b.client_roster[a.boundjid.bare]["subscription"] == "both"):
            return True
        await asyncio.sleep(0.1)
    return False


def bye(*clients):
    for c in clients:
        c.disconnect()
    return asyncio.sleep(0.3)


async def features(args):
    d = args.domain
    a = await login(args, "alice@%s/laptop" % d, "alice-secret", ("xep_0030", "xep_0115", "xep_0092", "xep_0012"))
    info = (await a["xep_0030"].get_info(d))["disco_info"]
    emit(event="info", identities=sorted([list(i) for i in info["identities"]], key=str), features=sorted(info["features"]))
    # slixmpp fetches node#ver itself when it sees the caps stream feature
    # and records the string only if the hash verifies.
    ver = None
    for _ in range(100):
        ver = await a["xep_0115"].get_verstring(d)
        if ver:
            break
        await asyncio.sleep(0.1)
    emit(event="caps", ver=ver, recomputed=a["xep_0115"].generate_verstring(info, "sha-1"))
    v = (await a["xep_0092"].get_version(d))["software_version"]
    emit(event="version", name=v["name"], version=v["version"], os=v["os"])
    up = (await a["xep_0012"].get_last_activity(d))["last_activity"]
    emit(event="uptime", seconds=up["seconds"])
    res, iq = await condition(a["xep_0030"].get_info(a.boundjid.bare))
    emit(event="account", whose="own", result=res, identities=sorted([list(i) for i in iq["disco_info"]["identities"]], key=str) if res == "ok" else [])
    res, _ = await condition(a["xep_0030"].get_info("bob@" + d))
    emit(event="account", whose="stranger", result=res, identities=[])
    await bye(a)


async def last(args):
    d = args.domain
    plugins = ("xep_0012",)
    a = await login(args, "alice@%s/laptop" % d, "alice-secret", plugins)
    b = await login(args, "bob@%s/phone" % d, "bob-secret", plugins)
    emit(event="friends", ok=await befriend(a, b))
    mark = b.mark()
    a.send_presence(ptype="unavailable", pstatus="gone fishing")
    await asyncio.sleep(0.3)
    a.disconnect()
    emit(event="saw-logout", ok=await b.wait({"presence_unavailable"}, "alice@%s/laptop" % d, mark))
    await asyncio.sleep(3)
    res, iq = await condition(b["xep_0012"].get_last_activity("alice@" + d))
    la = iq["last_activity"] if res == "ok" else {"seconds": None, "status": None}
    emit(event="last", who="contact", result=res, seconds=la["seconds"], status=la["status"])
    c = await login(args, "carol@%s/desk" % d, "carol-secret", plugins)
    res, _ = await condition(c["xep_0012"].get_last_activity("alice@" + d))
    emit(event="last", who="stranger", result=res, seconds=None, status=None)
    a = await login(args, "alice@%s/laptop" % d, "alice-secret", plugins)
    await asyncio.sleep(0.5)
    res, iq = await condition(b["xep_0012"].get_last_activity("alice@" + d))
    emit(event="last", who="contact-online", result=res, seconds=iq["last_activity"]["seconds"] if res == "ok" else None, status=None)
    await bye(a, b, c)


async def vcard_set(args):
    d = args.domain
    a = await login(args, "alice@%s/laptop" % d, "alice-secret", ("xep_0054",))
    vc = a["xep_0054"].make_vcard()
    vc["FN"] = "Alice Liddell"
    vc["NICKNAME"] = "alice"
    res, _ = await condition(a["xep_0054"].publish_vcard(vc))
    emit(event="vcard-set", result=res)
    await bye(a)


async def vcard_get(args):
    d = args.domain
    b = await login(args, "bob@%s/phone" % d, "bob-secret", ("xep_0054",))
    res, iq = await condition(b["xep_0054"].get_vcard("alice@" + d))
    emit(event="vcard", whose="alice", result=res, fn=iq["vcard_temp"]["FN"], nick=iq["vcard_temp"]["NICKNAME"])
    res, iq = await condition(b["xep_0054"].get_vcard(b.boundjid.bare))
    emit(event="vcard", whose="own", result=res, fn=iq["vcard_temp"]["FN"], nick=iq["vcard_temp"]["NICKNAME"])
    res, _ = await raw_iq(b, "set", "alice@" + d, "<vCard xmlns='vcard-temp'><FN>Mallory</FN></vCard>")
    emit(event="vcard-set-other", result=res)
    await bye(b)


async def private(args):
    d = args.domain
    plugins = ("xep_0049", "xep_0048")
    a = await login(args, "alice@%s/laptop" % d, "alice-secret", plugins)
    bm = Bookmarks()
    bm.add_conference("tea@conference." + d, "alice", autojoin=True)
    res, _ = await condition(a["xep_0048"].set_bookmarks(bm, method="xep_0049"))
    emit(event="bookmarks-set", result=res)
    await bye(a)
    a = await login(args, "alice@%s/phone" % d, "alice-secret", plugins)
    res, iq = await condition(a["xep_0048"].get_bookmarks(method="xep_0049"))
    emit(event="bookmarks", whose="alice", result=res,
         conferences=[[c["jid"], c["nick"], c["autojoin"]] for c in iq["private"]["bookmarks"]["conferences"]])
    b = await login(args, "bob@%s/phone" % d, "bob-secret", plugins)
    res, iq = await condition(b["xep_0048"].get_bookmarks(method="xep_0049"))
    emit(event="bookmarks", whose="bob", result=res,
         conferences=[[c["jid"], c["nick"], c["autojoin"]] for c in iq["private"]["bookmarks"]["conferences"]])
    res, _ = await raw_iq(b, "get", "alice@" + d, "<query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'/></query>")
    emit(event="private-other", result=res)
    res, _ = await raw_iq(b, "set", None, "<query xmlns='jabber:iq:private'><x xmlns='jabber:client'/></query>")
    emit(event="private-reserved", result=res)
    await bye(a, b)


async def blocking(args):
    d = args.domain
    alice, bob = "alice@" + d, "bob@" + d
    plugins = ("xep_0191",)
    a1 = await login(args, alice + "/a1", "alice-secret", plugins)
    a2 = await login(args, alice + "/a2", "alice-secret", plugins)
    b1 = await login(args, bob + "/b1", "bob-secret", plugins)
    emit(event="friends", ok=await befriend(a1, b1))
    await asyncio.sleep(0.5)
    pushes = []
    a2.add_event_handler("blocked", lambda iq: pushes.append(["block", sorted(str(j) for j in iq["block"]["items"])]))
    a2.add_event_handler("unblocked", lambda iq: pushes.append(["unblock", sorted(str(j) for j in iq["unblock"]["items"])]))
    await a2["xep_0191"].get_blocked()  # only resources that asked get pushes

    mark = b1.mark()
    res, _ = await condition(a1["xep_0191"].block(bob))
    emit(event="block", result=res)
    gone = [await b1.wait({"presence_unavailable"}, alice + "/" + r, mark) for r in ("a1", "a2")]
    emit(event="bob-sees-alice-leave", ok=all(gone))
    listed = (await a1["xep_0191"].get_blocked())["blocklist"]["items"]
    emit(event="blocklist", jids=sorted(str(j) for j in listed))

    # bob writes: refused as if alice were not there; alice gets nothing.
    b1.send_message(mto=alice, mbody="can you hear me", mtype="chat")
    e = await asyncio.wait_for(b1.errors.get(), args.timeout)
    emit(event="bob-writes", condition=e["error"]["condition"])
    # alice writes: refused with <blocked/>.
    a1.send_message(mto=bob, mbody="hello?", mtype="chat")
    e = await asyncio.wait_for(a1.errors.get(), args.timeout)
    emit(event="alice-writes", condition=e["error"]["condition"], blocked=e.xml.find("{jabber:client}error/" + NS_BLOCKED) is not None)
    # Presence changes are seen by neither.
    mark_a, mark_b = a1.mark(), b1.mark()
    b1.send_presence(pshow="away")
    a1.send_presence(pshow="dnd")
    await asyncio.sleep(2)
    seen_by_alice = await a1.wait({"changed_status", "presence_available"}, bob + "/b1", mark_a, timeout=0)
    seen_by_bob = await b1.wait({"changed_status", "presence_available"}, alice + "/a1", mark_b, timeout=0)
    emit(event="presence-while-blocked", alice_saw_bob=seen_by_alice, bob_saw_alice=seen_by_bob)
    got = []
    for c in (a1, a2):
        while not c.messages.empty():
            got.append(c.messages.get_nowait()["body"])
    emit(event="alice-received", bodies=got)

    mark_a, mark_b = a1.mark(), b1.mark()
    res, _ = await condition(a1["xep_0191"].unblock(bob))
    emit(event="unblock", result=res)
    back = await b1.wait({"presence_available", "changed_status"}, alice + "/a1", mark_b)
    probed = await a1.wait({"presence_available", "changed_status"}, bob + "/b1", mark_a)
    emit(event="presence-after-unblock", bob_saw_alice=back, alice_saw_bob=probed)
    b1.send_message(mto=alice + "/a1", mbody="there you are", mtype="chat")
    m = await asyncio.wait_for(a1.messages.get(), args.timeout)
    emit(event="alice-received-after-unblock", body=m["body"])
    await asyncio.sleep(0.3)
    emit(event="pushes", pushes=pushes)
    await bye(a1, a2, b1)


class RegClient(Client):
    """Registers before authenticating, with slixmpp's xep_0077 plugin
    driven by hand so that every answer is recorded."""

    def __init__(self, jid, password, ca, username, reg_password):
        super().__init__(jid, password, None, ca)
        self.username, self.reg_password = username, reg_password
        self.advertised = None
        self.register_plugin("xep_0077")
        self.add_event_handler("stream_error", lambda e: emit(event="stream-error", condition=e["condition"]))
        self.add_event_handler("disconnected", self._gone)
        self.add_filter("in", self._see_features)
        self.unregister_feature("register", self["xep_0077"].order)
        self.register_feature("register", self._register, restart=False, order=self["xep_0077"].order)

    def _gone(self, _):
        if not self.ready.done():
            self.ready.set_exception(ConnectionError("disconnected"))

    def _see_features(self, stanza):
        """Records whether the server offers registration, then offers it
        to our handler anyway, to see how the server answers."""
        if isinstance(stanza, StreamFeatures) and stanza.xml.find("{urn:ietf:params:xml:ns:xmpp-sasl}mechanisms") is not None:
            self.advertised = stanza.xml.find("{http://jabber.org/features/iq-register}register") is not None
            if not self.advertised:
                stanza.enable("register")
        return stanza

    async def _register(self, _features):
        if "mechanisms" in self.features:
            return False
        emit(event="advertised", value=self.advertised)
        # slixmpp 1.8 queues every IQ but bind and session until the session
        # starts, its own XEP-0077 registration included; let ours through.
        self._always_send_everything = True
        try:
            await self._register_now()
        finally:
            self._always_send_everything = False
        return False

    async def _register_now(self):
        res, iq = await condition(self["xep_0077"].get_registration(timeout=5))
        emit(event="fields", result=res, fields=sorted(iq["register"]["fields"]) if res == "ok" else [])
        if res == "ok":
            reg = self.make_iq_set()
            reg["register"]["username"] = self.username
            reg["register"]["password"] = self.reg_password
            res, _ = await condition(reg.send(timeout=10))
            emit(event="register", username=self.username, result=res)


async def reg_login(args, jid, password, username, reg_password):
    c = RegClient(jid, password, args.ca, username, reg_password)
    c.connect(address=(args.host, 5222))
    try:
        await asyncio.wait_for(c.ready, args.timeout)
        emit(event="login", jid=jid, ok=True)
        return c
    except (PermissionError, ConnectionError):
        emit(event="login", jid=jid, ok=False)
        c.disconnect()
        await asyncio.sleep(0.2)
        return None


async def plain_login(args, jid, password):
    c = ModClient(jid, password, args.ca, ("xep_0077",))
    c.connect(address=(args.host, 5222))
    try:
        await asyncio.wait_for(c.ready, args.timeout)
        emit(event="login", jid=jid, ok=True)
        return c
    except PermissionError:
        emit(event="login", jid=jid, ok=False)
        c.disconnect()
        await asyncio.sleep(0.2)
        return None


async def register(args):
    d = args.domain
    carol = "carol@%s/desk" % d
    c = await reg_login(args, carol, "carol-secret", "carol", "carol-secret")
    if args.mode == "off":
        return
    # Someone else tries the same name.
    dup = await reg_login(args, "dave@%s/x" % d, "dave-secret", "carol", "other-secret")
    if dup:
        dup.disconnect()
    res, _ = await condition(c["xep_0077"].change_password("short"))
    emit(event="passwd", password="short", result=res)
    res, _ = await condition(c["xep_0077"].change_password("carol-new-secret"))
    emit(event="passwd", password="carol-new-secret", result=res)
    await bye(c)
    old = await plain_login(args, carol, "carol-secret")
    new = await plain_login(args, carol, "carol-new-secret")
    if old:
        old.disconnect()
    ended = asyncio.get_event_loop().create_future()
    new.add_event_handler("disconnected", lambda _: ended.done() or ended.set_result(True))
    res, _ = await condition(new["xep_0077"].cancel_registration())
    emit(event="remove", result=res)
    try:
        await asyncio.wait_for(ended, args.timeout)
        emit(event="removed-stream-closed", ok=True)
    except asyncio.TimeoutError:
        emit(event="removed-stream-closed", ok=False)
    gone = await plain_login(args, carol, "carol-new-secret")
    if gone:
        gone.disconnect()
    await asyncio.sleep(0.3)


async def csi(args):
    """XEP-0352: while alice says she is inactive, bob's presence changes
    and typing notifications wait; his next real message brings them, in
    order, the earlier of two presences dropped; <active/> releases the
    rest."""
    d = args.domain
    a = await login(args, "alice@%s/phone" % d, "alice-secret", ("xep_0352",))
    b = await login(args, "bob@%s/pc" % d, "bob-secret")
    emit(event="csi", enabled=a["xep_0352"].enabled)
    emit(event="friends", ok=await befriend(a, b))
    bob = str(b.boundjid)
    log = []  # what alice receives from bob, in order
    got = asyncio.Event()

    def on_presence(p):
        if str(p["from"]) == bob:
            log.append("presence:" + (p["show"] or p["type"]))
            got.set()

    def on_message(m):
        if str(m["from"]) != bob:
            return
        if m["body"]:
            log.append("message:" + m["body"])
        elif m.xml.find("{http://jabber.org/protocol/chatstates}composing") is not None:
            log.append("message:composing")
        got.set()
    a.add_event_handler("presence", on_presence)
    # slixmpp's "message" event is for messages with a body only.
    a.register_handler(Callback("every message", MatchXPath("{jabber:client}message"), on_message))

    async def until(n, timeout=10):
        loop = asyncio.get_event_loop()
        end = loop.time() + timeout
        while len(log) < n and loop.time() < end:
            got.clear()
            try:
                await asyncio.wait_for(got.wait(), end - loop.time())
            except asyncio.TimeoutError:
                pass
        return len(log) >= n

    await asyncio.sleep(0.5)
    log.clear()
    a["xep_0352"].send_inactive()
    await asyncio.sleep(0.3)
    b.send_presence(pshow="away")
    m = b.make_message(mto=a.boundjid, mtype="chat")
    m.append(ET.fromstring("<composing xmlns='http://jabber.org/protocol/chatstates'/>"))
    m.send()
    b.send_presence(pshow="xa")
    await asyncio.sleep(1.5)
    emit(event="while-inactive", received=list(log))
    b.send_message(mto=a.boundjid, mbody="wake up", mtype="chat")
    await until(3)
    emit(event="urgent", received=list(log))
    log.clear()
    b.send_presence(pshow="dnd")
    await asyncio.sleep(1.5)
    before = list(log)
    a["xep_0352"].send_active()
    await until(1)
    emit(event="active", before=before, after=list(log))
    await bye(a, b)


async def sm(args):
    """XEP-0198 with slixmpp's own plugin: enabled (without resumption),
    and both sides' counts agree: the server acknowledges exactly what
    alice sent, and answers to the server's requests for her count keep
    her stream up while bob's messages arrive."""
    d = args.domain
    a = await login(args, "alice@%s/phone" % d, "alice-secret", ("xep_0198",), presence=False)
    b = await login(args, "bob@%s/pc" % d, "bob-secret")
    plugin = a["xep_0198"]
    for _ in range(50):
        if plugin.enabled_in:
            break
        await asyncio.sleep(0.1)
    emit(event="enabled", value=plugin.enabled_in, resumable=bool(plugin.sm_id))
    for i in range(7):
        a.send_message(mto=b.boundjid, mbody="from alice %d" % i, mtype="chat")
    # slixmpp writes its requests directly, ahead of the stanzas still in
    # its send queue: let the queue drain first.
    await asyncio.sleep(0.5)
    plugin.request_ack()
    for _ in range(50):
        if plugin.last_ack == plugin.seq:
            break
        await asyncio.sleep(0.1)
    emit(event="acked", seq=plugin.seq, last_ack=plugin.last_ack)
    got = asyncio.Queue()
    a.add_event_handler("message", lambda m: got.put_nowait(m["body"]))
    bodies = []
    for i in range(12):
        b.send_message(mto=a.boundjid, mbody="to alice %d" % i, mtype="chat")
    try:
        for _ in range(12):
            bodies.append(await asyncio.wait_for(got.get(), 10))
    except asyncio.TimeoutError:
        pass
    await asyncio.sleep(0.5)  # the server's requests answered meanwhile
    b.send_message(mto=a.boundjid, mbody="last", mtype="chat")
    try:
        bodies.append(await asyncio.wait_for(got.get(), 10))
    except asyncio.TimeoutError:
        pass
    emit(event="received", count=len(bodies), last=bodies[-1] if bodies else "", handled=plugin.handled)
    await bye(a, b)


async def sm_resume(args):
    """XEP-0198 §5 with slixmpp: alice's connection drops without a word,
    bob writes to her meanwhile, and slixmpp resumes the session on a new
    connection and gets the message, without a new session."""
    d = args.domain
    a = await login(args, "alice@%s/phone" % d, "alice-secret", ("xep_0198",))
    b = await login(args, "bob@%s/pc" % d, "bob-secret")
    plugin = a["xep_0198"]
    for _ in range(50):
        if plugin.enabled_in and plugin.sm_id:
            break
        await asyncio.sleep(0.1)
    starts = []
    a.add_event_handler("session_start", lambda _: starts.append(1))
    resumed = asyncio.Event()
    a.add_event_handler("session_resumed", lambda _: resumed.set())
    gone = asyncio.Event()
    a.add_event_handler("disconnected", lambda _: gone.set())
    got = asyncio.Queue()
    a.add_event_handler("message", lambda m: got.put_nowait(m["body"]))
    full = str(a.boundjid)
    a.transport.abort()  # the network goes away: no closing tag
    await asyncio.wait_for(gone.wait(), 10)
    await asyncio.sleep(0.5)
    b.send_message(mto=full, mbody="while you were away", mtype="chat")
    await asyncio.sleep(0.5)
    a.connect(address=(args.host, 5222))
    ok = True
    try:
        await asyncio.wait_for(resumed.wait(), 10)
    except asyncio.TimeoutError:
        ok = False
    body = ""
    try:
        body = await asyncio.wait_for(got.get(), 10)
    except asyncio.TimeoutError:
        pass
    emit(event="resumed", resumed=ok, body=body, new_sessions=len(starts), jid=str(a.boundjid), same_jid=str(a.boundjid) == full)
    await bye(a, b)


async def offline_sm(args):
    """XEP-0160 with slixmpp's XEP-0198 plugin: messages stored while alice
    was offline reach her at login, delay-stamped, once; her client
    acknowledges them (it answers the server's requests by itself), after
    which they are gone from storage, so the next login gets none again."""
    d = args.domain
    b = await login(args, "bob@%s/pc" % d, "bob-secret")
    for i in range(3):
        b.send_message(mto="alice@%s" % d, mbody="stored %d" % i, mtype="chat")
    await asyncio.sleep(0.5)
    for name in ("first-login", "second-login"):
        a = ModClient("alice@%s/phone" % d, "alice-secret", args.ca, ("xep_0198",))
        got = []
        a.add_event_handler("message", lambda m, got=got: got.append(
            (m["body"], m.xml.find("{urn:xmpp:delay}delay") is not None)))
        a.connect(address=(args.host, 5222))
        await asyncio.wait_for(a.ready, args.timeout)
        for _ in range(50):
            if len(got) >= 3:
                break
            await asyncio.sleep(0.1)
        # Long enough for the acknowledgement to travel, and for a second
        # copy to show if there were one.
        await asyncio.sleep(1)
        emit(event=name, bodies=[g[0] for g in got], stamped=all(g[1] for g in got),
             enabled=a["xep_0198"].enabled_in)
        await bye(a)
    await bye(b)


def main():
    scenarios = {"offline-sm": offline_sm, "features": features, "last": last, "vcard-set": vcard_set, "vcard-get": vcard_get,
                 "private": private, "blocking": blocking, "register": register, "csi": csi, "sm": sm, "sm-resume": sm_resume}
    p = argparse.ArgumentParser()
    p.add_argument("scenario", choices=sorted(scenarios))
    p.add_argument("--host", required=True)
    p.add_argument("--domain", required=True)
    p.add_argument("--ca", required=True)
    p.add_argument("--mode", choices=["on", "off"], default="on")
    p.add_argument("--timeout", type=float, default=15)
    args = p.parse_args()
    try:
        asyncio.run(scenarios[args.scenario](args))
    except Exception as e:  # report, so the Go side shows what broke
        emit(event="error", error=type(e).__name__ + ": " + str(e))
        sys.exit(1)


if __name__ == "__main__":
    main()
