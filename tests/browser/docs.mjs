// Opens Castellan's interactive API docs (/docs) in headless Chromium and reports what a
// newcomer would see: whether Swagger UI rendered, every Content-Security-Policy violation,
// the operations listed, and, with TRY, the status shown after trying one operation.
//
// usage: node docs.mjs BASE_URL [TRY_METHOD TRY_PATH]
//   e.g. node docs.mjs http://127.0.0.1:8000 GET /health/live
// Environment: CHROMIUM is the browser binary (default /usr/bin/chromium).
// Prints one JSON line: {"rendered": BOOL, "root_text": TEXT, "violations": [..],
//   "errors": [..], "operations": ["GET /health/live", ..], "tried": STATUS_TEXT|null}.
import { chromium } from "playwright-core";

const [base, tryMethod, tryPath] = process.argv.slice(2);
if (!base) {
  console.error("usage: node docs.mjs BASE_URL [TRY_METHOD TRY_PATH]");
  process.exit(2);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-dev-shm-usage"],
});
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const violations = [];
  const errors = [];
  // Chromium reports each refusal on the console; the DOM event catches any it words
  // differently. The listener is installed by the driver, outside the page's policy.
  page.on("console", (message) => {
    if (/Content Security Policy/i.test(message.text())) violations.push(message.text());
  });
  page.on("pageerror", (error) => errors.push(String(error)));
  await page.exposeFunction("reportViolation", (text) => violations.push(text));
  await page.addInitScript(() => {
    document.addEventListener("securitypolicyviolation", (e) =>
      window.reportViolation(`${e.violatedDirective} blocked ${e.blockedURI || "inline"}`),
    );
  });

  const response = await page.goto(`${base}/docs`);
  if (!response || response.status() !== 200) {
    throw new Error(`/docs answered ${response && response.status()}`);
  }
  // Swagger UI renders into #swagger-ui; it has finished loading the document when either
  // operations or its load error show.
  await page.waitForSelector("#swagger-ui .swagger-ui", { timeout: 30000 });
  await page.waitForSelector(".opblock, .errors-wrapper, .loading-container .errors", { timeout: 30000 }).catch(() => {});
  const rootText = (await page.locator("#swagger-ui").innerText()).trim();
  const operations = await page.$$eval(".opblock", (blocks) =>
    blocks.map((b) => {
      const method = b.querySelector(".opblock-summary-method")?.textContent.trim();
      const path = b.querySelector(".opblock-summary-path")?.getAttribute("data-path");
      return `${method} ${path}`;
    }),
  );

  let tried = null;
  if (tryMethod && tryPath) {
    const block = page
      .locator(`.opblock-${tryMethod.toLowerCase()}`)
      .filter({ has: page.locator(`.opblock-summary-path[data-path="${tryPath}"]`) })
      .first();
    await block.locator(".opblock-summary").first().click();
    await block.getByRole("button", { name: "Try it out" }).click();
    await block.getByRole("button", { name: "Execute" }).click();
    const status = block.locator(".live-responses-table tbody .response-col_status").first();
    await status.waitFor({ timeout: 30000 });
    tried = (await status.innerText()).trim();
  }
  console.log(
    JSON.stringify({
      rendered: (await page.locator("#swagger-ui .swagger-ui").count()) > 0,
      root_text: rootText.slice(0, 2000),
      violations,
      errors,
      operations,
      tried,
    }),
  );
} finally {
  await browser.close();
}
