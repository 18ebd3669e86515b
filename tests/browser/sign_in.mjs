// Signs a user in on Castellan's hosted login page with headless Chromium, the way a person
// would: open the authorization URL, photograph the page, type the credentials, press the
// button, and report where the browser lands. The relying party's callback is answered
// in-browser so no server has to listen on it.
//
// usage: node sign_in.mjs AUTHORIZE_URL CALLBACK_PREFIX USERNAME PASSWORD SCREENSHOT
// Environment: CHROMIUM is the browser binary (default /usr/bin/chromium).
// Prints one JSON line: {"landed": URL, "title": TITLE_OF_THE_LOGIN_PAGE}.
import { chromium } from "playwright-core";

const [authorizeUrl, callback, username, password, screenshot] = process.argv.slice(2);
if (!screenshot) {
  console.error("usage: node sign_in.mjs AUTHORIZE_URL CALLBACK_PREFIX USERNAME PASSWORD SCREENSHOT");
  process.exit(2);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  // The callback may sit on a port browsers refuse by default (tests use the discard port).
  args: ["--no-sandbox", "--disable-dev-shm-usage", `--explicitly-allowed-ports=${new URL(callback).port || 80}`],
});
try {
  const page = await browser.newPage({ viewport: { width: 640, height: 560 } });
  await page.route(`${callback}**`, (route) =>
    route.fulfill({ status: 200, contentType: "text/html", body: "<!doctype html><title>callback</title>" }),
  );
  const response = await page.goto(authorizeUrl);
  if (!response || response.status() !== 200) {
    throw new Error(`the authorization URL answered ${response && response.status()}`);
  }
  const title = await page.title();
  // Fill the form through its accessible labels, as assistive technology would find it.
  await page.getByLabel("Username or email").fill(username);
  await page.getByLabel("Password").fill(password);
  await page.screenshot({ path: screenshot });
  const landed = page.waitForRequest((request) => request.url().startsWith(callback), { timeout: 15000 });
  await page.getByRole("button", { name: "Sign in" }).click();
  const request = await landed;
  console.log(JSON.stringify({ landed: request.url(), title }));
} finally {
  await browser.close();
}
