// The admin console and the invitation page in Debian's chromium, driven
// by playwright-core: an admin logs in, resets a password, sees who is
// online, makes an invitation with its QR code; the invitee opens the
// link and makes an account with the page's form. Every observation is
// one JSON line for the Go test (console_test.go); screenshots go to the
// artifacts directory, at a laptop's and at a phone's size.
//
// node console.mjs BASE_URL HOST IP ARTIFACTS
import { chromium } from "playwright-core";

const [base, host, ip, artifacts] = process.argv.slice(2);
const emit = (o) => console.log(JSON.stringify(o));

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", `--host-resolver-rules=MAP ${host} ${ip}`],
});
try {
  const laptop = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1100, height: 800 } });
  const page = await laptop.newPage();
  const shot = (p, name) => p.screenshot({ path: `${artifacts}/${name}.png`, fullPage: true });

  await page.goto(`${base}/admin/`);
  emit({ event: "start", url: new URL(page.url()).pathname });
  await shot(page, "login");

  await page.fill("#u", "mum");
  await page.fill("#p", "wrong-password");
  await page.click("button[type=submit]");
  emit({ event: "bad-login", text: (await page.textContent("body")).includes("That did not work") });

  await page.fill("#u", "mum");
  await page.fill("#p", "mum-secret");
  await page.click("button[type=submit]");
  emit({ event: "login", url: new URL(page.url()).pathname, title: await page.title() });
  await shot(page, "overview");

  await page.goto(`${base}/admin/accounts`);
  const kidRow = page.locator("tr", { hasText: "kid@" });
  await kidRow.locator("summary", { hasText: "Reset password" }).click();
  await kidRow.locator("input[name=password]").fill("kid-new-secret");
  await kidRow.locator("button", { hasText: "Set password" }).click();
  emit({ event: "reset", flash: await page.locator(".flash, .notice, [role=status]").first().textContent().catch(() => "") ,
    body: (await page.textContent("body")).includes("New password set for kid@") });
  await shot(page, "accounts");

  // A form posted with the admin's cookie but without the session's
  // token is refused (the page itself may not fetch: its
  // Content-Security-Policy forbids connections).
  // (Node resolves names itself: the request goes to the address, named.)
  const cookie = (await laptop.cookies()).map((c) => `${c.name}=${c.value}`).join("; ");
  const forgedResp = await laptop.request.post(`${base.replace(host, ip)}/admin/accounts`, {
    headers: { Host: new URL(base).host, Cookie: cookie },
    form: { action: "delete", user: "kid", confirm: `kid@${host}` }, maxRedirects: 0, ignoreHTTPSErrors: true,
  });
  const forged = forgedResp.status();
  emit({ event: "csrf", status: forged });

  await page.goto(`${base}/admin/online`);
  emit({ event: "online", body: await page.locator("table").textContent().catch(() => "") });
  await shot(page, "online");

  await page.goto(`${base}/admin/rooms`);
  await shot(page, "rooms");

  await page.goto(`${base}/admin/invites`);
  await page.click("button:has-text('Make invitation')");
  const link = (await page.locator("code").first().textContent()).trim();
  emit({ event: "invite", link, qr: await page.locator(".qr svg").count() });
  await shot(page, "invites");

  const phone = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
  const p2 = await phone.newPage();
  await p2.goto(link);
  const xmpp = await p2.locator("a[href^='xmpp:']").first().getAttribute("href").catch(() => "");
  emit({ event: "landing", title: await p2.title(), xmpp, qr: await p2.locator("svg").count(), scripts: await p2.locator("script").count() });
  await shot(p2, "landing-phone");
  await p2.click("summary:has-text('Make your account here instead')");
  await p2.fill("#username", "grandpa");
  await p2.fill("#password", "grandpa-secret");
  await p2.fill("#password2", "grandpa-secret");
  await p2.click("button:has-text('Make my account')");
  emit({ event: "registered", body: (await p2.textContent("body")).replace(/\s+/g, " ").trim().slice(0, 400) });
  await shot(p2, "landing-done-phone");

  const p3 = await phone.newPage();
  await p3.goto(link);
  emit({ event: "reused", status: (await p3.textContent("body")).replace(/\s+/g, " ").trim().slice(0, 200) });

  const admin = await laptop.newPage();
  await admin.goto(`${base}/admin/accounts`);
  emit({ event: "accounts", grandpa: (await admin.textContent("body")).includes("grandpa@") });
  const phoneAdmin = await phone.newPage();
  await phoneAdmin.context().addCookies(await laptop.cookies());
  await phoneAdmin.goto(`${base}/admin/accounts`);
  await shot(phoneAdmin, "accounts-phone");
} finally {
  await browser.close();
}
