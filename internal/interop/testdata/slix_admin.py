#!/usr/bin/python3
"""The family admin's tools from a chat app, driven with slixmpp's own
plugins: ad-hoc commands (XEP-0050) with service administration
(XEP-0133), and an invitation (XEP-0401) redeemed through in-band
registration with its token (XEP-0445, XEP-0077).

Scenarios: commands, invite. Every observation is one JSON line; the Go
test (console_test.go) asserts on them.
"""
import argparse
import asyncio
import re
import sys

from slixmpp.xmlstream import ET

from slix import condition, emit
from slix_modules import ModClient, RegClient

NS_CMD = "http://jabber.org/protocol/commands"
ADMIN = "http://jabber.org/protocol/admin#"


async def login(args, jid, password, plugins=()):
    c = ModClient(jid, password, args.ca, ("xep_0030", "xep_0004", "xep_0050", "xep_0133") + tuple(plugins))
    c.connect(address=(args.host, 5222))
    await asyncio.wait_for(c.ready, args.timeout)
    return c


async def command_nodes(c, domain):
    res, iq = await condition(c["xep_0133"].get_commands(jid=domain, timeout=5))
    return res, sorted(i[1] for i in iq["disco_items"]["items"]) if res == "ok" else []


def field_names(form):
    """The vars of a received form's fields, sorted."""
    fields = form["fields"]
    if hasattr(fields, "keys"):
        return sorted(fields.keys())
    return sorted(f["var"] for f in fields)


def run_workflow(c, start, fill):
    """Runs a command through xep_0050's session workflow: start(session)
    begins it, fill(form) fills the form the server sends back; the future
    gets (status, note, result form values) or ("error", condition)."""
    loop = asyncio.get_event_loop()
    done = loop.create_future()

    def finished(iq, session):
        cmd = iq["command"]
        notes = [n[1] for n in cmd["notes"]]
        values = {}
        if iq.xml.find("{%s}command/{jabber:x:data}x" % NS_CMD) is not None:
            values = {k: v for k, v in cmd["form"].get_values().items() if k != "FORM_TYPE"}
        if not done.done():
            done.set_result((cmd["status"], notes, values))

    def on_next(iq, session):
        if iq["command"]["status"] != "executing":
            finished(iq, session)
            return
        form = iq["command"]["form"]
        answer = c["xep_0004"].make_form(ftype="submit")
        for var, value in fill(form).items():
            answer.add_field(var=var, value=value)
        session["payload"] = answer
        session["next"] = finished
        c["xep_0050"].complete_command(session)

    def on_error(iq, session):
        if not done.done():
            done.set_result(("error", iq["error"]["condition"], {}))

    start({"next": on_next, "error": on_error})
    return done


async def commands(args):
    d = args.domain
    mum = await login(args, "mum@%s/phone" % d, "mum-secret")
    kid = await login(args, "kid@%s/tablet" % d, "kid-secret")

    # The operators' addresses (XEP-0157) in the disco#info slixmpp gets.
    res, info = await condition(mum["xep_0030"].get_info(jid=d, timeout=5))
    values = {}
    for x in info.xml.findall(".//{jabber:x:data}x") if res == "ok" else []:
        fields = {f.get("var"): [v.text for v in f.findall("{jabber:x:data}value")] for f in x.findall("{jabber:x:data}field")}
        if fields.get("FORM_TYPE") == ["http://jabber.org/network/serverinfo"]:
            values = {k: v for k, v in fields.items() if k != "FORM_TYPE"}
    emit(event="serverinfo", result=res, values=values)

    res, nodes = await command_nodes(mum, d)
    emit(event="list", who="mum", result=res, nodes=nodes)
    res, nodes = await command_nodes(kid, d)
    emit(event="list", who="kid", result=res, nodes=nodes)

    def add_dad(form):
        emit(event="form", node="add-user", fields=field_names(form))
        return {"accountjid": "dad@%s" % d, "password": "dad-secret", "password-verify": "dad-secret"}

    out = await asyncio.wait_for(run_workflow(mum, lambda s: mum["xep_0133"].add_user(session=s), add_dad), args.timeout)
    emit(event="run", who="mum", node="add-user", status=out[0], notes=out[1])

    out = await asyncio.wait_for(run_workflow(kid, lambda s: kid["xep_0133"].add_user(session=s), add_dad), args.timeout)
    emit(event="run", who="kid", node="add-user", status=out[0], notes=out[1])

    out = await asyncio.wait_for(run_workflow(mum, lambda s: mum["xep_0133"].get_online_users_num(session=s), lambda f: {}), args.timeout)
    emit(event="run", who="mum", node="get-online-users-num", status=out[0], values=out[2])

    out = await asyncio.wait_for(run_workflow(mum, lambda s: mum["xep_0133"].get_online_users_list(session=s),
                                              lambda f: {"max_items": "none"}), args.timeout)
    emit(event="run", who="mum", node="get-online-users-list", status=out[0], values=out[2])

    while not kid.messages.empty():
        kid.messages.get_nowait()
    out = await asyncio.wait_for(run_workflow(mum, lambda s: mum["xep_0133"].announce(session=s),
                                              lambda f: {"subject": "Dinner", "announcement": ["Dinner is ready", "come down"]}), args.timeout)
    emit(event="run", who="mum", node="announce", status=out[0], notes=out[1])
    try:
        while True:
            msg = await asyncio.wait_for(kid.messages.get(), 5)
            if msg["type"] == "headline":
                emit(event="announcement", to="kid", frm=str(msg["from"]), subject=msg["subject"], body=msg["body"])
                break
    except asyncio.TimeoutError:
        emit(event="announcement", to="kid", frm="", subject="", body="")

    dad = ModClient("dad@%s/pc" % d, "dad-secret", args.ca)
    dad.connect(address=(args.host, 5222))
    try:
        await asyncio.wait_for(dad.ready, args.timeout)
        emit(event="login", jid="dad", ok=True)
        dad.disconnect()
    except PermissionError:
        emit(event="login", jid="dad", ok=False)

    out = await asyncio.wait_for(run_workflow(mum, lambda s: mum["xep_0133"].end_user_session(session=s),
                                              lambda f: {"accountjids": ["kid@%s" % d]}), args.timeout)
    emit(event="run", who="mum", node="end-user-session", status=out[0], notes=out[1])
    await asyncio.sleep(0.5)
    emit(event="kid-connected", value=kid.is_connected())
    mum.disconnect()
    await asyncio.sleep(0.2)


class TokenRegClient(RegClient):
    """Registers with an invitation token sent first (XEP-0445 §5)."""

    def __init__(self, jid, password, ca, username, reg_password, token):
        super().__init__(jid, password, ca, username, reg_password)
        self.token = token

    async def _register_now(self):
        iq = self.make_iq_set()
        iq.append(ET.fromstring("<preauth xmlns='urn:xmpp:pars:0' token='%s'/>" % self.token))
        res, _ = await condition(iq.send(timeout=5))
        emit(event="preauth", result=res)
        await super()._register_now()


async def invite(args):
    d = args.domain
    mum = await login(args, "mum@%s/phone" % d, "mum-secret")

    def no_name(form):
        emit(event="form", node="create-account", fields=field_names(form))
        return {"username": "", "roster-subscription": True}

    out = await asyncio.wait_for(run_workflow(mum, lambda s: mum["xep_0050"].start_command(jid=d, node="urn:xmpp:invite#create-account", session=s),
                                              no_name), args.timeout)
    uri = out[2].get("uri", "") if out[0] == "completed" else ""
    emit(event="invite", status=out[0], uri=uri, url=out[2].get("landing-url", "") if out[0] == "completed" else "")
    m = re.search(r"preauth=([^;&]+)", uri)
    token = m.group(1) if m else "none"

    for name, tok in (("forged", "AAAA" + token[4:]), ("nana", token), ("reused", token)):
        c = TokenRegClient("%s@%s/phone" % (name, d), "nana-secret", args.ca, name, "nana-secret", tok)
        c.connect(address=(args.host, 5222))
        try:
            await asyncio.wait_for(c.ready, args.timeout)
            emit(event="login", jid=name, ok=True)
            roster = await c.get_roster()
            items = {str(j): roster["roster"]["items"][j]["subscription"] for j in roster["roster"]["items"]}
            emit(event="roster", jid=name, items=items)
            c.disconnect()
        except (PermissionError, ConnectionError):
            emit(event="login", jid=name, ok=False)
            c.disconnect()
        await asyncio.sleep(0.3)
    roster = await mum.get_roster()
    emit(event="roster", jid="mum", items={str(j): roster["roster"]["items"][j]["subscription"] for j in roster["roster"]["items"]})
    mum.disconnect()
    await asyncio.sleep(0.2)


def main():
    scenarios = {"commands": commands, "invite": invite}
    p = argparse.ArgumentParser()
    p.add_argument("scenario", choices=sorted(scenarios))
    p.add_argument("--host", required=True)
    p.add_argument("--domain", required=True)
    p.add_argument("--ca", required=True)
    p.add_argument("--timeout", type=float, default=15)
    args = p.parse_args()
    asyncio.run(scenarios[args.scenario](args))


if __name__ == "__main__":
    sys.exit(main())
