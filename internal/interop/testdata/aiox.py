#!/usr/bin/python3
"""aioxmpp driver for roost's client matrix (TestInteropClients).

One seat: log in (STARTTLS or direct TLS, trusting the test CA), let
aioxmpp negotiate stream management as it does by default, enable carbons,
send --send to --peer and wait for a chat message back from it. Prints one
JSON object per line; the Go test asserts on them. Run with Debian's
/usr/bin/python3 (python3-aioxmpp).
"""
import argparse
import asyncio
import sys

import aioxmpp
import aioxmpp.carbons
import aioxmpp.connector
import aioxmpp.dispatcher
import aioxmpp.security_layer

from driver import add_connection_args, emit


async def seat(args):
    def ssl_context():
        ctx = aioxmpp.security_layer.default_ssl_context()
        ctx.load_verify_locations(args.ca)
        return ctx

    if args.direct_tls:
        connector = aioxmpp.connector.XMPPOverTLSConnector()
    else:
        connector = aioxmpp.connector.STARTTLSConnector()
    client = aioxmpp.PresenceManagedClient(
        aioxmpp.JID.fromstr(args.jid),
        aioxmpp.make_security_layer(args.password, ssl_context_factory=ssl_context),
        override_peer=[(args.host, args.port, connector)],
        max_initial_attempts=1,
    )
    peer = aioxmpp.JID.fromstr(args.peer)
    got = asyncio.get_running_loop().create_future()

    def on_message(msg):
        if msg.body and msg.from_.bare() == peer and not got.done():
            got.set_result(msg)

    client.summon(aioxmpp.dispatcher.SimpleMessageDispatcher).register_callback(
        aioxmpp.MessageType.CHAT, None, on_message)
    client.presence = aioxmpp.PresenceState(True)
    async with client.connected() as stream:
        emit(event="login", jid=str(client.local_jid), sm=stream.sm_enabled)
        await asyncio.wait_for(client.summon(aioxmpp.CarbonsClient).enable(), args.timeout)
        emit(event="carbons", enabled=True)
        msg = aioxmpp.Message(to=peer, type_=aioxmpp.MessageType.CHAT)
        msg.body[None] = args.send
        await client.send(msg)
        m = await asyncio.wait_for(got, args.timeout)
        emit(event="message", frm=str(m.from_), body=m.body.any())


def main():
    p = argparse.ArgumentParser()
    add_connection_args(p)
    p.add_argument("--peer", required=True)
    p.add_argument("--send", required=True)
    args = p.parse_args()
    try:
        # Login has its own negotiation timeout (60 s) in aioxmpp: bound
        # the whole seat so that nothing waits longer than the test means.
        asyncio.run(asyncio.wait_for(seat(args), 3 * args.timeout))
    except Exception as e:  # report, so the Go side shows what broke
        emit(event="error", error=type(e).__name__ + ": " + str(e))
        sys.exit(1)


if __name__ == "__main__":
    main()
