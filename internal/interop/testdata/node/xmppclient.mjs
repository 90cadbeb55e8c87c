// @xmpp/client under Node as a second web client for web_test.go: log in
// over WebSocket, read the roster, send a message and wait for the reply.
// Node 20 needs --experimental-websocket for the global WebSocket it uses.
//
// node --experimental-websocket xmppclient.mjs SERVICE DOMAIN USER PASSWORD TO TEXT WANT
import { client, xml } from '@xmpp/client';

const [service, domain, username, password, to, text, want] = process.argv.slice(2);
const emit = (o) => console.log(JSON.stringify(o));
if (!globalThis.WebSocket) {
  emit({ event: 'error', error: `Node ${process.version} has no WebSocket: Node 20 with --experimental-websocket, or later, is needed` });
  process.exit(1);
}
const timer = setTimeout(() => { emit({ event: 'error', error: 'timed out' }); process.exit(1); }, 30_000);

const xmpp = client({ service, domain, username, password, resource: 'node' });
xmpp.on('error', (e) => emit({ event: 'error', error: String(e) }));
const reply = new Promise((resolve) => {
  xmpp.on('stanza', (st) => {
    const body = st.is('message') && st.getChildText('body');
    if (body === want) resolve({ from: st.attrs.from, body });
  });
});

const address = await xmpp.start();
emit({ event: 'online', jid: address.toString() });
const roster = await xmpp.iqCaller.get(xml('query', { xmlns: 'jabber:iq:roster' }));
emit({ event: 'roster', items: roster.getChildren('item').map((i) => ({ jid: i.attrs.jid, subscription: i.attrs.subscription })) });
await xmpp.send(xml('presence'));
await xmpp.send(xml('message', { to, type: 'chat' }, xml('body', {}, text)));
emit({ event: 'message', ...(await reply) });
await xmpp.stop();
clearTimeout(timer);
