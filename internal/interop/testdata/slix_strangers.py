#!/usr/bin/python3
"""Subscription requests from strangers (RFC 6121 §3.1.3), driven with
slixmpp, for TestInteropStrangerRequests.

The server keeps at most two requests from strangers. While alice is
offline, s1 (with a status), s2 and s3 ask to see her presence: the third
is refused with a presence error. alice logs in and gets the two waiting
requests; her roster stays empty. She denies s1, who is told; s3 then
asks again and the request reaches alice at once.

Every observation is one JSON line; the Go test asserts on them.
"""
import argparse
import asyncio

from slix import RosterClient
from driver import emit


async def login(args, user, name):
    c = RosterClient(f"{user}@{args.domain}/{name}", f"{user}-secret", args.ca, name)
    c.errors = asyncio.Queue()
    c.add_event_handler("presence_error", lambda p: c.errors.put_nowait((str(p["from"]), p["error"]["condition"])))
    c.unsubscribed = asyncio.Queue()
    c.add_event_handler("presence_unsubscribed", lambda p: c.unsubscribed.put_nowait(str(p["from"])))
    c.connect(address=(args.host, 5222))
    await asyncio.wait_for(c.ready, args.timeout)
    return c


async def first(q, timeout):
    try:
        return await asyncio.wait_for(q.get(), timeout)
    except asyncio.TimeoutError:
        return None


async def run(args):
    alice = f"alice@{args.domain}"
    strangers = {}
    for user in ("s1", "s2", "s3"):
        strangers[user] = await login(args, user, user)
    strangers["s1"].send_presence(pto=alice, ptype="subscribe", pstatus="it is me, from school")
    await asyncio.sleep(0.3)
    strangers["s2"].send_presence(pto=alice, ptype="subscribe")
    await asyncio.sleep(0.3)
    strangers["s3"].send_presence(pto=alice, ptype="subscribe")
    err = await first(strangers["s3"].errors, 3)
    emit(event="refused", error=err[1] if err else None)

    a = RosterClient(f"{alice}/phone", "alice-secret", args.ca, "a")
    requests = []
    a.add_event_handler("presence_subscribe", lambda p: requests.append((str(p["from"]), p["status"])))
    a.connect(address=(args.host, 5222))
    await asyncio.wait_for(a.ready, args.timeout)
    roster = await a.get_roster()
    await asyncio.sleep(1)
    emit(event="requests", got=sorted(requests))
    # The server's roster, not slixmpp's view (which adds whoever asked).
    emit(event="roster", items=sorted(str(j) for j in roster["roster"]["items"]))

    a.send_presence(pto=f"s1@{args.domain}", ptype="unsubscribed")
    got = await first(strangers["s1"].unsubscribed, 3)
    emit(event="denied", told=got)

    requests.clear()
    strangers["s3"].send_presence(pto=alice, ptype="subscribe")
    err = await first(strangers["s3"].errors, 1)
    await asyncio.sleep(0.5)
    emit(event="again", error=err[1] if err else None, live=[f for f, _ in requests])

    for c in list(strangers.values()) + [a]:
        c.disconnect()
    await asyncio.sleep(0.3)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--host", required=True)
    p.add_argument("--domain", required=True)
    p.add_argument("--ca", required=True)
    p.add_argument("--timeout", type=float, default=15)
    args = p.parse_args()
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
