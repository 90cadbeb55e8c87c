// Drives converse.js in Debian's chromium, headless, for web_test.go: log
// in through the login form, see the roster, chat with contacts. Steps
// come as JSON lines on stdin; each step's outcome is a JSON line on
// stdout. Screenshots go to the directory given.
//
// node converse.mjs PAGE_URL DOMAIN IP SHOTS_DIR
import { chromium } from 'playwright-core';
import readline from 'node:readline';
import path from 'node:path';

const [pageURL, domain, ip, shots] = process.argv.slice(2);
const emit = (o) => console.log(JSON.stringify(o));
const step = 30_000; // bound of one step

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  headless: true,
  timeout: step,
  args: [
    '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
    '--disable-sync', '--no-first-run',
    // The XMPP domain is the server's address, as a family's DNS would
    // make it: host-meta and the WebSocket are on its port 443. No other
    // name resolves: nothing leaves the loopback interface. The family's
    // page is on an address of its own unless it is roost's.
    `--host-resolver-rules=MAP ${domain} ${ip}, MAP * ~NOTFOUND` +
      (new URL(pageURL).hostname === domain ? '' : `, EXCLUDE ${new URL(pageURL).hostname}`),
  ],
});
// One browser context (a fresh profile) per login: the page of one ends
// with it, and so does its WebSocket.
let context, page;
// block, if set, is the start of URLs that fail as without the Internet
// (a CDN's). Every request to another origin than url's is reported as
// an "elsewhere" event, and every answer from under app (the chat app's
// files) as an "app" event with its status and type.
async function openPage(url, block, app) {
  if (context) await context.close();
  // The test CA is not the browser's; everything here is on loopback.
  context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 800 } });
  if (block) {
    await context.route((u) => u.href.startsWith(block), (route) => route.abort('internetdisconnected'));
  }
  page = await context.newPage();
  if (url.startsWith('http')) {
    const origin = new URL(url).origin;
    page.on('request', (r) => {
      const u = new URL(r.url());
      if (u.protocol.startsWith('http') && u.origin !== origin) emit({ event: 'elsewhere', url: r.url() });
    });
    if (app) {
      page.on('response', (r) => {
        if (r.url().startsWith(origin + app)) {
          emit({ event: 'app', url: r.url(), status: r.status(), type: r.headers()['content-type'] || '' });
        }
      });
    }
  }
  page.setDefaultTimeout(step);
  page.on('console', (m) => { if (m.type() === 'error') emit({ event: 'console', text: m.text() }); });
  page.on('pageerror', (e) => emit({ event: 'pageerror', text: String(e) }));
  page.on('websocket', (ws) => {
    emit({ event: 'websocket', url: ws.url() });
    ws.on('close', () => emit({ event: 'websocket-closed', url: ws.url() }));
  });
  await page.goto(url);
}

const shot = (name) => page.screenshot({ path: path.join(shots, name + '.png'), fullPage: true });

// openChat opens the chat with jid from the roster.
async function openChat(jid) {
  await page.locator('converse-roster a.open-chat', { hasText: jid.split('@')[0] }).first().click();
  return page.locator(`converse-chat[jid="${jid}"]`);
}

// say sends text in chat and waits until the chat shows it.
async function say(chat, text) {
  const box = chat.locator('.chat-textarea');
  await box.fill(text);
  await box.press('Enter');
  await chat.locator('.chat-msg__text', { hasText: text }).first().waitFor();
}

// shown returns the texts a chat shows, after a screenshot of the page.
async function shown(chat, shotName) {
  await shot(shotName);
  return { texts: (await chat.locator('.chat-msg__text').allInnerTexts()).map((s) => s.trim()) };
}

const steps = {
  // Log in as a family member would, on the page at url (the family's
  // own page by default): the form, then the roster.
  async login({ url, block, app, jid, password, contacts, loginShot, rosterShot }) {
    await openPage(url || pageURL, block, app);
    await page.locator('#converse-login-jid').waitFor();
    await shot(loginShot);
    await page.locator('#converse-login-jid').fill(jid);
    await page.locator('#converse-login-password').fill(password);
    await page.locator('converse-login-form button[type=submit]').click();
    for (const c of contacts) {
      await page.locator('converse-roster a.open-chat', { hasText: c.split('@')[0] }).first().waitFor();
    }
    const roster = await page.locator('converse-roster a.open-chat').allInnerTexts();
    await shot(rosterShot);
    return { roster: roster.map((s) => s.trim()) };
  },
  // Send text to jid and wait for want to appear in that chat.
  async chat({ jid, text, want, shotName }) {
    const chat = await openChat(jid);
    await say(chat, text);
    await chat.locator('.chat-msg__text', { hasText: want }).waitFor();
    return shown(chat, shotName);
  },
  // Wait for a message from jid saying text, then answer it.
  async answer({ jid, text, reply, shotName }) {
    const chat = await openChat(jid);
    await chat.locator('.chat-msg__text', { hasText: text }).waitFor();
    await say(chat, reply);
    return shown(chat, shotName);
  },
  // Open the page at url as a device without Internet would: requests
  // to block (the chat app's address) fail. Returns what the page says.
  async offline({ url, block, shotName }) {
    await openPage('about:blank');
    await context.route((u) => u.href.startsWith(block), (route) => route.abort('internetdisconnected'));
    await page.goto(url);
    await page.waitForLoadState('load');
    await shot(shotName);
    return { text: (await page.locator('body').innerText()).trim() };
  },
};

const lines = readline.createInterface({ input: process.stdin });
let failed = false;
for await (const line of lines) {
  const cmd = JSON.parse(line);
  try {
    emit({ event: cmd.step, ok: true, ...(await steps[cmd.step](cmd)) });
  } catch (e) {
    failed = true;
    await shot('failed-' + cmd.step).catch(() => {});
    emit({ event: cmd.step, ok: false, error: String(e) });
    break;
  }
}
await browser.close();
process.exit(failed ? 1 : 0);
