#!/usr/bin/python3
"""HTTP File Upload (XEP-0363) with slixmpp's own xep_0363 plugin.

Scenarios:
  share  alice sends a photo as a phone would: the upload service is found
         through service discovery, the plugin asks for a slot and PUTs
         the file over HTTPS; alice sends the link to bob (in the body and as
         XEP-0066 out-of-band data), and bob downloads it.
  slots  what the service refuses: a file above the advertised limit
         (file-too-large), a bad file name, and requests past the quota.

HTTPS goes through aiohttp with the default TLS settings: the Go side puts
the server's certificate in SSL_CERT_FILE. Every observation is one JSON
line; upload_test.go asserts on them.
"""
import argparse
import asyncio
import hashlib
import io
import sys

import aiohttp
from slixmpp.exceptions import IqError
from slixmpp.plugins.xep_0363.http_upload import FileTooBig

from driver import emit
from slix import Client

NS = "urn:xmpp:http:upload:0"


async def login(args, jid, password, plugins=()):
    c = Client(jid, password, None, args.ca)
    for p in plugins:
        c.register_plugin(p)
    c.connect(address=(args.host, 5222))
    await asyncio.wait_for(c.ready, args.timeout)
    return c


async def discover(c, domain):
    """The upload service of domain and its size limit, found as the
    plugin's find_upload_service does (disco#items of the domain, then
    disco#info of each item). The plugin's own discovery cannot run here:
    slixmpp 1.8.3 hands coroutines to asyncio.wait, which Python 3.11
    refuses ("Passing coroutines is forbidden")."""
    items = await c["xep_0030"].get_items(domain, timeout=10)
    for jid, _, _ in items["disco_items"]["items"]:
        info = await c["xep_0030"].get_info(jid, timeout=10)
        di = info["disco_info"]
        if ("store", "file") in [(i[0], i[1]) for i in di["identities"]] and NS in di["features"]:
            limit = None
            for form in di.iterables:
                values = form["values"]
                if values.get("FORM_TYPE") == [NS]:
                    limit = int(values["max-file-size"])
            # What upload_file would have learnt itself.
            c["xep_0363"].upload_service = info["from"]
            c["xep_0363"].max_file_size = limit
            return info["from"], limit
    return None, None


async def share(args):
    d = args.domain
    a = await login(args, "alice@%s/phone" % d, "alice-secret", ("xep_0030", "xep_0128", "xep_0363", "xep_0066"))
    b = await login(args, "bob@%s/tablet" % d, "bob-secret", ("xep_0066",))
    await discover(a, d)
    url = await a["xep_0363"].upload_file(args.file, timeout=30)
    emit(event="uploaded", url=url, service=str(a["xep_0363"].upload_service),
         max=a["xep_0363"].max_file_size)
    m = a.make_message(mto="bob@" + d, mbody=url, mtype="chat")
    m["oob"]["url"] = url
    m.send()
    msg = await asyncio.wait_for(b.messages.get(), args.timeout)
    got = msg["oob"]["url"] or msg["body"]
    emit(event="received", url=got, body=msg["body"])
    async with aiohttp.ClientSession() as s:
        async with s.get(got) as resp:
            data = await resp.read()
            emit(event="downloaded", status=resp.status, size=len(data),
                 sha256=hashlib.sha256(data).hexdigest(),
                 content_type=resp.headers.get("Content-Type", ""),
                 nosniff=resp.headers.get("X-Content-Type-Options", ""))
    a.disconnect()
    b.disconnect()
    await asyncio.sleep(0.3)


def error_of(e):
    """The condition, text and file-too-large limit of an IQ error."""
    err = e.iq["error"]
    limit = err.xml.find("{%s}file-too-large/{%s}max-file-size" % (NS, NS))
    return dict(condition=err["condition"], text=err["text"], limit=limit.text if limit is not None else None)


async def slots(args):
    d = args.domain
    c = await login(args, "carol@%s/laptop" % d, "carol-secret", ("xep_0030", "xep_0128", "xep_0363"))
    up = c["xep_0363"]
    service, limit = await discover(c, d)
    emit(event="service", jid=str(service), max=limit)
    # The plugin itself refuses a file above the advertised limit.
    try:
        await up.upload_file("big.bin", size=limit + 1, input_file=io.BytesIO(b""), domain=d)
        emit(event="too-big-local", refused=False)
    except FileTooBig as e:
        emit(event="too-big-local", refused=True, limit=e.args[1])
    # Asked anyway, the service says so too.
    for name, size in (("big.bin", limit + 1), ("../etc/passwd", 10)):
        try:
            await up.request_slot(service, name, size, "application/octet-stream", timeout=10)
            emit(event="refused", name=name, ok=True)
        except IqError as e:
            emit(event="refused", name=name, ok=False, **error_of(e))
    # Slots reserve quota until they lapse: ask until the quota says no.
    for n in range(1, 20):
        try:
            await up.request_slot(service, "f%d.bin" % n, limit, "application/octet-stream", timeout=10)
        except IqError as e:
            emit(event="quota", granted=n - 1, **error_of(e))
            break
    c.disconnect()
    await asyncio.sleep(0.3)


def main():
    scenarios = {"share": share, "slots": slots}
    p = argparse.ArgumentParser()
    p.add_argument("scenario", choices=sorted(scenarios))
    p.add_argument("--host", required=True)
    p.add_argument("--domain", required=True)
    p.add_argument("--ca", required=True)
    p.add_argument("--file")
    p.add_argument("--timeout", type=float, default=15)
    args = p.parse_args()
    try:
        asyncio.run(scenarios[args.scenario](args))
    except Exception as e:  # report, so the Go side shows what broke
        emit(event="error", error=type(e).__name__ + ": " + str(e))
        sys.exit(1)


if __name__ == "__main__":
    main()
