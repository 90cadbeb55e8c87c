#!/usr/bin/python3
"""Personal eventing scenarios (XEP-0163), driven with slixmpp's own plugins:
xep_0060 (pubsub), xep_0163 (PEP and +notify interests through xep_0115
caps), xep_0084 (avatars), xep_0153 (vCard avatar hashes in presence),
xep_0054 (vCards), xep_0048 (bookmarks, in private XML and over PEP) and
xep_0223 (private data in PEP). Debian's slixmpp 1.8.3 has no xep_0402
plugin: XEP-0402 bookmarks are published and read with xep_0060.

"local": alice and bob, contacts on one server.
"federation": alice on roost, bob and carol on other servers.

Every observation is one JSON line; the Go test (pep_test.go) asserts on
them. A step that fails stops the scenario: the next ones depend on it.
"""
import argparse
import asyncio
import hashlib

from slixmpp.exceptions import IqError
from slixmpp.plugins.xep_0048.stanza import Bookmarks
from slixmpp.xmlstream import ET, ElementBase

from slix import Client, emit

TUNE = "http://jabber.org/protocol/tune"
BOOKMARKS2 = "urn:xmpp:bookmarks:1"
PLUGINS = ("xep_0030", "xep_0060", "xep_0163", "xep_0115", "xep_0084", "xep_0054",
           "xep_0048", "xep_0223")

# A 1x1 PNG, and another image.
PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                    "1f15c4890000000d49444154789c63f8cfc0f01f0005050200"
                    "5fc8f1d20000000049454e44ae426082")
GIF = b"GIF89a\x01\x00\x01\x00\x00\x00\x00;"


class Notes(ElementBase):
    """Private data an account keeps in PEP (XEP-0223)."""
    name = "notes"
    namespace = "urn:example:notes"
    plugin_attrib = "notes"


def step(name, ok, **kw):
    emit(event="step", step=name, ok=bool(ok), **kw)
    if not ok:
        raise RuntimeError("step failed: " + name)


class PEPClient(Client):
    """A client with the PEP plugins that queues what it is notified of."""

    def __init__(self, jid, password, ca, plugins=()):
        super().__init__(jid, password, None, ca)
        for p in PLUGINS + tuple(plugins):
            self.register_plugin(p)
        self["xep_0048"].storage_method = "xep_0049"
        self.events = asyncio.Queue()
        self.add_event_handler("pubsub_publish", lambda m: self.events.put_nowait(("publish", m)))
        self.add_event_handler("pubsub_retract", lambda m: self.events.put_nowait(("retract", m)))
        self.hashes = asyncio.Queue()
        self.add_event_handler("vcard_avatar_update", self.hashes.put_nowait)

    async def notified(self, node, frm, kind="publish", timeout=15):
        """The next event of kind about node from frm, or None."""
        loop = asyncio.get_event_loop()
        end = loop.time() + timeout
        while True:
            left = end - loop.time()
            if left <= 0:
                return None
            try:
                k, m = await asyncio.wait_for(self.events.get(), left)
            except asyncio.TimeoutError:
                return None
            items = m["pubsub_event"]["items"]
            if k == kind and items["node"] == node and m["from"].bare == frm:
                return m

    async def want(self, *namespaces):
        """Ask for notifications (+notify in caps) and say so in presence."""
        for ns in namespaces:
            self["xep_0163"].add_interest(ns)
        await self["xep_0115"].update_caps(broadcast=False)
        self.send_presence()


async def login(jid, password, host, ca, timeout, plugins=()):
    c = PEPClient(jid, password, ca, plugins)
    c.connect(address=(host, 5222))
    await asyncio.wait_for(c.ready, timeout)
    await c.get_roster()
    return c


def tune(title):
    el = ET.Element("{%s}tune" % TUNE)
    ET.SubElement(el, "{%s}title" % TUNE).text = title
    return el


def publish_options(client, fields):
    f = client["xep_0004"].make_form(ftype="submit")
    f.add_field(var="FORM_TYPE", ftype="hidden", value="http://jabber.org/protocol/pubsub#publish-options")
    for k, v in fields.items():
        f.add_field(var=k, value=v)
    return f


def error_of(e):
    app = e.iq["error"].xml.find("{http://jabber.org/protocol/pubsub#errors}*")
    return e.condition, (app.tag.split("}")[1] if app is not None else "")


async def local(args):
    alice = await login(args.jid1, args.password1, args.host, args.ca, args.timeout)
    bob = await login(args.jid2, args.password2, args.host, args.ca, args.timeout, plugins=("xep_0153",))
    a, b = alice.boundjid.bare, bob.boundjid.bare

    # Last item on presence, then live notifications (XEP-0163 §4).
    await alice["xep_0060"].publish(None, TUNE, id="current", payload=tune("first"))
    await bob.want(TUNE)
    m = await bob.notified(TUNE, a)
    step("last item on presence", m is not None and m.xml.find("{urn:xmpp:delay}delay") is not None,
         item=str(m["pubsub_event"]["items"]["item"]["id"]) if m else None)
    await alice["xep_0060"].publish(None, TUNE, id="current", payload=tune("second"))
    m = await bob.notified(TUNE, a)
    step("notification", m is not None and "second" in str(m))

    # publish-options as preconditions (XEP-0060 §7.1.5).
    await alice["xep_0060"].publish(None, "urn:example:open", id="1", payload=tune("open"),
                                    options=publish_options(alice, {"pubsub#access_model": "open"}))
    try:
        await alice["xep_0060"].publish(None, "urn:example:open", id="2", payload=tune("x"),
                                        options=publish_options(alice, {"pubsub#access_model": "presence"}))
        step("precondition-not-met", False)
    except IqError as e:
        step("precondition-not-met", error_of(e) == ("conflict", "precondition-not-met"), error=str(error_of(e)))

    # Items: newest max_items; retract with notify.
    for i in range(3):
        await alice["xep_0060"].publish(None, "urn:example:list", id="i%d" % i, payload=tune(str(i)),
                                        options=publish_options(alice, {"pubsub#max_items": "10"}))
    res = await bob["xep_0060"].get_items(a, "urn:example:list", max_items=2)
    ids = [i["id"] for i in res["pubsub"]["items"]]
    step("max_items", ids == ["i1", "i2"], ids=ids)
    # New interests: roost learns them from bob's new caps and sends the
    # node's last item; then retractions reach him too.
    await bob.want(TUNE, "urn:example:list")
    m = await bob.notified("urn:example:list", a)
    step("last item after new caps", m is not None and m["pubsub_event"]["items"]["item"]["id"] == "i2")
    await alice["xep_0060"].retract(None, "urn:example:list", "i0", notify=True)
    m = await bob.notified("urn:example:list", a, kind="retract")
    step("retract notification", m is not None)

    # Avatars: XEP-0084 published, notified, read, and in the vCard
    # (XEP-0398); the hash in alice's presence (XEP-0153).
    pid = alice["xep_0084"].generate_id(PNG)
    await alice["xep_0084"].publish_avatar(PNG)
    await alice["xep_0084"].publish_avatar_metadata(items=[{"id": pid, "type": "image/png", "bytes": len(PNG)}])
    m = await bob.notified("urn:xmpp:avatar:metadata", a)
    step("avatar metadata notification", m is not None and pid in str(m))
    data = await bob["xep_0084"].retrieve_avatar(a, pid)
    step("avatar data", data["pubsub"]["items"]["item"]["avatar_data"]["value"] == PNG)
    vc = await bob["xep_0054"].get_vcard(a, cached=False)
    step("vCard photo from the avatar", vc["vcard_temp"]["PHOTO"]["BINVAL"] == PNG)
    while not bob.hashes.empty():
        bob.hashes.get_nowait()
    alice.send_presence(pstatus="with avatar")
    got = None
    while True:
        try:
            p = await asyncio.wait_for(bob.hashes.get(), 10)
        except asyncio.TimeoutError:
            break
        if p["from"].bare == a:
            got = p["vcard_temp_update"]["photo"]
            break
    step("avatar hash in presence", got == pid, hash=got)
    # The other way round: a vCard photo becomes the avatar.
    vcard = alice["xep_0054"].make_vcard()
    vcard["FN"] = "Alice"
    vcard["PHOTO"]["TYPE"] = "image/gif"
    vcard["PHOTO"]["BINVAL"] = GIF
    await alice["xep_0054"].publish_vcard(vcard)
    gid = hashlib.sha1(GIF).hexdigest()
    m = await bob.notified("urn:xmpp:avatar:metadata", a)
    step("avatar from the vCard", m is not None and gid in str(m))

    # Bookmarks: private XML (XEP-0048 over XEP-0049) ↔ XEP-0402 ↔ XEP-0048
    # over PEP (xep_0223).
    bm = Bookmarks()
    bm.add_conference("den@conference.example", "al", name="Den", autojoin=True)
    await alice["xep_0048"].set_bookmarks(bm, method="xep_0049")
    res = await alice["xep_0060"].get_items(None, BOOKMARKS2)
    items = {i["id"]: i for i in res["pubsub"]["items"]}
    step("private XML bookmark in XEP-0402", "den@conference.example" in items)
    conf = ET.Element("{%s}conference" % BOOKMARKS2, name="Attic", autojoin="false")
    await alice["xep_0060"].publish(None, BOOKMARKS2, id="attic@conference.example", payload=conf,
                                    options=publish_options(alice, {"pubsub#persist_items": "true", "pubsub#max_items": "max",
                                                                    "pubsub#send_last_published_item": "never",
                                                                    "pubsub#access_model": "whitelist"}))
    res = await alice["xep_0048"].get_bookmarks(method="xep_0049")
    jids = sorted(str(c["jid"]) for c in res["private"]["bookmarks"]["conferences"])
    step("XEP-0402 bookmark in private XML", jids == ["attic@conference.example", "den@conference.example"], jids=jids)
    res = await alice["xep_0048"].get_bookmarks(method="xep_0223")
    jids = sorted(str(c["jid"]) for c in res["pubsub"]["items"]["item"]["bookmarks"]["conferences"])
    step("bookmarks over PEP (XEP-0048 §3.3)", jids == ["attic@conference.example", "den@conference.example"], jids=jids)
    try:
        await bob["xep_0060"].get_items(a, BOOKMARKS2)
        step("bookmarks are private", False)
    except IqError as e:
        step("bookmarks are private", e.condition == "not-allowed", error=str(error_of(e)))

    # XEP-0223: private data in PEP, whitelist.
    note = Notes()
    note.xml.text = "secret"
    await alice["xep_0223"].store(note, node="urn:example:notes", id="current")
    res = await alice["xep_0223"].retrieve("urn:example:notes")
    step("XEP-0223 store and retrieve", "secret" in str(res))
    try:
        await bob["xep_0060"].get_items(a, "urn:example:notes")
        step("XEP-0223 data is private", False)
    except IqError as e:
        step("XEP-0223 data is private", error_of(e) == ("not-allowed", "closed-node"), error=str(error_of(e)))

    # The account's disco#info (XEP-0163 §6.1).
    info = await alice["xep_0030"].get_info(jid=a)
    feats = info["disco_info"]["features"]
    step("pep identity", ("pubsub", "pep", None, None) in info["disco_info"]["identities"])
    step("publish-options advertised", "http://jabber.org/protocol/pubsub#publish-options" in feats)
    alice.disconnect()
    bob.disconnect()


async def federation(args):
    """alice (roost) publishes, bob and carol on other servers are told;
    each reads the other's open node across servers."""
    alice = await login(args.jid1, args.password1, args.host1, args.ca1, args.timeout)
    a = alice.boundjid.bare
    await alice["xep_0060"].publish(None, TUNE, id="current", payload=tune("first"),
                                    options=publish_options(alice, {"pubsub#access_model": "open"}))
    others = []
    for jid, pw, host, ca in ((args.jid2, args.password2, args.host2, args.ca2),
                              (args.jid3, args.password3, args.host3, args.ca3)):
        c = await login(jid, pw, host, ca, args.timeout)
        await c.want(TUNE)
        others.append(c)
    await alice.want(TUNE)
    for c in others:
        # roost asks the remote client what its caps mean, across servers,
        # then sends the last item (XEP-0163 §4.3.4).
        m = await c.notified(TUNE, a, timeout=30)
        step("last item across servers to " + c.boundjid.domain, m is not None and "first" in str(m))
    await alice["xep_0060"].publish(None, TUNE, id="current", payload=tune("second"))
    for c in others:
        m = await c.notified(TUNE, a, timeout=30)
        step("notification across servers to " + c.boundjid.domain, m is not None and "second" in str(m))
        res = await c["xep_0060"].get_items(a, TUNE)
        step("open node read from " + c.boundjid.domain, "second" in str(res))
    # The other way: the peers publish, alice is told and reads.
    for c in others:
        await c["xep_0060"].publish(None, TUNE, id="current", payload=tune("from " + c.boundjid.domain),
                                    options=publish_options(c, {"pubsub#access_model": "open"}))
        m = await alice.notified(TUNE, c.boundjid.bare, timeout=30)
        step("notification from " + c.boundjid.domain, m is not None and c.boundjid.domain in str(m))
        res = await alice["xep_0060"].get_items(c.boundjid.bare, TUNE)
        step("node read on " + c.boundjid.domain, c.boundjid.domain in str(res))
    for c in [alice] + others:
        c.disconnect()


async def seed(args):
    """Publish an empty OMEMO device list, open, for an account whose
    server answers item-not-found without the request (Prosody 0.12):
    profanity 0.13 takes that for a failure and never publishes its first
    device list; with an empty one it adds its device."""
    c = await login(args.jid1, args.password1, args.host1, args.ca1, args.timeout)
    el = ET.Element("{eu.siacs.conversations.axolotl}list")
    await c["xep_0060"].publish(None, "eu.siacs.conversations.axolotl.devicelist", id="current", payload=el,
                                options=publish_options(c, {"pubsub#access_model": "open"}))
    step("device list seeded", True)
    c.disconnect()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("scenario", choices=["local", "federation", "seed"])
    p.add_argument("--host")
    p.add_argument("--ca")
    for i in "123":
        p.add_argument("--jid" + i)
        p.add_argument("--password" + i)
        p.add_argument("--host" + i)
        p.add_argument("--ca" + i)
    p.add_argument("--timeout", type=float, default=20)
    args = p.parse_args()
    run = {"local": local, "federation": federation, "seed": seed}[args.scenario]
    asyncio.get_event_loop().run_until_complete(asyncio.wait_for(run(args), 240))


if __name__ == "__main__":
    main()
