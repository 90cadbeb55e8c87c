// @xmpp/client against roost: SASL2 (XEP-0388), Bind 2 (XEP-0386), FAST
// (XEP-0484) and stream management resumed inline (XEP-0198). Driven by
// internal/interop/login_test.go; prints one JSON event per line.
//
//   node xmppjs_login.mjs first --service xmpp://IP:5222 --domain D \
//        --user U --password P --ua UUID
//     logs in with the password over STARTTLS (or over WebSocket, RFC
//     7395, with --service wss://IP:5443/xmpp-websocket: Node 20 needs
//     --experimental-websocket), asks for a FAST token and binds with
//     Bind 2 (stream management enabled inline), sends itself a message,
//     then loses its connection: @xmpp/client reconnects with the token
//     and resumes the session inline. Prints the token.
//
//   node xmppjs_login.mjs token --token T --expiry E [--password P] ...
//     a fresh process, as after an app restart: logs in with the token it
//     was given (and falls back to the password, if any, when the token
//     is refused).
//
// The CA comes from NODE_EXTRA_CA_CERTS.
import { client, xml } from "@xmpp/client";

const [mode, ...rest] = process.argv.slice(2);
const args = {};
for (let i = 0; i + 1 < rest.length; i += 2) args[rest[i].replace(/^--/, "")] = rest[i + 1];

const NS_SASL2 = "urn:xmpp:sasl:2";
const NS_BIND2 = "urn:xmpp:bind:0";
const NS_FAST = "urn:xmpp:fast:0";
const NS_SM = "urn:xmpp:sm:3";

function emit(ev) {
  process.stdout.write(JSON.stringify(ev) + "\n");
}

function fail(msg) {
  emit({ event: "fatal", error: String(msg) });
  process.exit(1);
}

const timer = setTimeout(() => fail("timed out"), 30_000);

const xmpp = client({
  service: args.service,
  domain: args.domain,
  username: args.user,
  password: args.password ?? "",
  resource: "xmppjs",
  userAgent: xml("user-agent", { id: args.ua }, xml("software", {}, "xmpp.js"), xml("device", {}, "interop")),
});
// Reconnect at once: the test measures roost, not the back-off.
xmpp.reconnect.delay = 50;
xmpp.streamManagement.requestAckInterval = 0;

let token = args.token ? { token: args.token, expiry: args.expiry, mechanism: "HT-SHA-256-NONE" } : null;
xmpp.fast.fetchToken = async () => token;
xmpp.fast.saveToken = async (t) => {
  token = t;
  emit({ event: "token", token: t.token, expiry: t.expiry, mechanism: t.mechanism });
};
xmpp.fast.deleteToken = async () => {
  token = null;
  emit({ event: "token-deleted" });
};

// What goes over the wire during authentication.
let connection = 0;
xmpp.on("send", (el) => {
  if (el.is("authenticate", NS_SASL2)) {
    connection++;
    emit({
      event: "authenticate",
      connection,
      mechanism: el.attrs.mechanism,
      fast: !!el.getChild("fast", NS_FAST),
      requestToken: el.getChild("request-token", NS_FAST)?.attrs.mechanism ?? "",
      bind: !!el.getChild("bind", NS_BIND2),
      resume: !!el.getChild("resume", NS_SM),
    });
  }
});
xmpp.on("element", (el) => {
  if (el.is("challenge", NS_SASL2)) emit({ event: "challenge", connection });
  if (el.is("failure", NS_SASL2)) {
    emit({ event: "failure", connection, condition: el.children.find((c) => c.name !== "text")?.name ?? "" });
  }
  if (el.is("success", NS_SASL2)) {
    const bound = el.getChild("bound", NS_BIND2);
    emit({
      event: "success",
      connection,
      aid: el.getChildText("authorization-identifier"),
      token: !!el.getChild("token", NS_FAST),
      bound: !!bound,
      enabled: !!bound?.getChild("enabled", NS_SM),
      resumed: !!el.getChild("resumed", NS_SM),
    });
  }
});
xmpp.on("error", (err) => emit({ event: "error", error: String(err?.condition ?? err) }));

function waitFor(pred) {
  return new Promise((resolve) => {
    const f = (stanza) => {
      if (pred(stanza)) {
        xmpp.removeListener("stanza", f);
        resolve(stanza);
      }
    };
    xmpp.on("stanza", f);
  });
}

async function first() {
  const online = new Promise((r) => xmpp.once("online", r));
  await xmpp.start();
  const jid = await online;
  emit({ event: "online", jid: jid.toString(), sm: xmpp.streamManagement.enabled });
  const echo = waitFor((s) => s.is("message") && s.getChildText("body") === "to myself");
  await xmpp.send(xml("message", { to: jid.toString(), type: "chat" }, xml("body", {}, "to myself")));
  await echo;
  emit({ event: "message" });

  // The network goes: no closing tag. A TCP socket just dies; a
  // WebSocket, which has no socket to destroy, closes without the stream's
  // <close/>, which roost takes for a lost connection too. @xmpp/client
  // reconnects with its token and asks to resume.
  const resumed = new Promise((r) => xmpp.streamManagement.once("resumed", r));
  const socket = xmpp.socket.socket;
  if (typeof socket.destroy === "function") socket.destroy();
  else socket.close();
  await resumed;
  emit({ event: "resumed", jid: xmpp.jid.toString(), sm: xmpp.streamManagement.enabled });
  // The resumed session works.
  const again = waitFor((s) => s.is("message") && s.getChildText("body") === "after resuming");
  await xmpp.send(xml("message", { to: xmpp.jid.toString(), type: "chat" }, xml("body", {}, "after resuming")));
  await again;
  emit({ event: "message" });
}

async function withToken() {
  const online = new Promise((r) => xmpp.once("online", r));
  xmpp.reconnect.stop(); // one attempt
  try {
    await xmpp.start();
  } catch (err) {
    emit({ event: "start-failed", error: String(err?.condition ?? err) });
    return;
  }
  const jid = await online;
  emit({ event: "online", jid: jid.toString() });
}

try {
  await (mode === "first" ? first() : withToken());
  xmpp.reconnect.stop();
  await xmpp.stop();
  emit({ event: "done" });
  clearTimeout(timer);
} catch (err) {
  fail(err?.stack ?? err);
}
