// Drives the system Chromium (through playwright-core, which downloads no
// browser of its own) against a generated teaching site:
//   node check.mjs SITE_DIR SHOTS_DIR
// (a) answers every question from quiz.json (and its class, by number key,
//     when the page asks for it): expects a perfect score;
// (b) answers every question "real" with the R key, and (c) "synthetic" with
//     the S key: expects the score the key implies;
// checks the saved JSON and CSV, the class filter, that nothing is loaded
// from the network and that no page throws; and writes screenshots of
// index.html, quiz.html and report.html into SHOTS_DIR.
import { mkdtempSync, readFileSync, rmSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import assert from "node:assert/strict";
import { chromium } from "playwright-core";

const [siteArg, shotsArg] = process.argv.slice(2);
if (!siteArg || !shotsArg) {
  console.error("usage: node check.mjs SITE_DIR SHOTS_DIR");
  process.exit(2);
}
const site = resolve(siteArg);
const shots = resolve(shotsArg);
mkdirSync(shots, { recursive: true });
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
const key = JSON.parse(readFileSync(join(site, "quiz.json"), "utf8"));
const url = (page) => pathToFileURL(join(site, page)).href;

const profile = mkdtempSync(join(tmpdir(), "forger-teach-chromium-"));
const context = await chromium.launchPersistentContext(profile, {
  executablePath,
  headless: true,
  acceptDownloads: true,
  viewport: { width: 1280, height: 900 },
  args: [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
  ],
});

const problems = [];
function watch(page) {
  page.on("pageerror", (e) => problems.push(`page error on ${page.url()}: ${e.message}`));
  page.on("console", (m) => { if (m.type() === "error") problems.push(`console error on ${page.url()}: ${m.text()}`); });
  page.on("request", (r) => {
    if (!/^(file|blob|data):/.test(r.url())) problems.push(`network request: ${r.url()}`);
  });
  page.on("requestfailed", (r) => problems.push(`failed to load ${r.url()}`));
  return page;
}

// The visible answer buttons, checked against the hook the issue specifies.
async function visibleAnswerButtons(page) {
  const all = page.locator('[data-answer="real"], [data-answer="synthetic"]');
  const visible = [];
  for (let i = 0; i < (await all.count()); i++) {
    if (await all.nth(i).isVisible()) visible.push(await all.nth(i).getAttribute("data-answer"));
  }
  return visible.sort();
}

async function takeQuiz(page, choose, how) {
  await page.goto(url("quiz.html"));
  const classNames = await page.locator("#class-choice input").evaluateAll((inputs) => inputs.map((i) => i.value));
  for (const [i, q] of key.questions.entries()) {
    assert.deepEqual(await visibleAnswerButtons(page), ["real", "synthetic"], `question ${i + 1}: answer buttons`);
    const src = await page.locator("#question-image").getAttribute("src");
    assert.equal(src, q.image, `question ${i + 1} shows the image the key names`);
    assert.equal(await page.locator("#result").count(), 0, "no result before the last answer");
    if (classNames.length) {
      // Name the class with its number key, then answer.
      await page.keyboard.press(String(classNames.indexOf(q.class) + 1));
      assert.ok(await page.locator(`#class-choice input[value="${q.class}"]`).isChecked(), "class key picks the class");
    }
    const answer = choose(q);
    if (how === "click") {
      await page.locator(`#question [data-answer="${answer}"]`).click();
    } else {
      await page.keyboard.press(answer === "real" ? "R" : "S");
    }
  }
  const result = page.locator("#result");
  await result.waitFor({ state: "visible" });
  assert.deepEqual(await visibleAnswerButtons(page), [], "no answer buttons after the last answer");
  return {
    correct: Number(await result.getAttribute("data-correct")),
    total: Number(await result.getAttribute("data-total")),
  };
}

const n = key.questions.length;
const nReal = key.questions.filter((q) => q.answer === "real").length;
try {
  const page = watch(await context.newPage());

  // (a) Every answer from the key: a perfect score.
  assert.deepEqual(await takeQuiz(page, (q) => q.answer, "click"), { correct: n, total: n });
  assert.equal(await page.locator(".review li").count(), n, "the review lists every answer");
  await page.screenshot({ path: join(shots, "quiz-result.png"), fullPage: true });

  // The saved results match what was answered.
  const [json] = await Promise.all([page.waitForEvent("download"), page.locator("#save-json").click()]);
  const saved = JSON.parse(readFileSync(await json.path(), "utf8"));
  assert.equal(saved.correct, n);
  assert.deepEqual(saved.answers.map((a) => a.truth), key.questions.map((q) => q.answer));
  if (await page.locator("#class-choice").count()) {
    assert.deepEqual(saved.answers.map((a) => a.classAnswer), key.questions.map((q) => q.class));
    assert.match(await page.locator("#result").innerText(), new RegExp(`Class named right: ${n} of ${n}`));
  }
  const [csv] = await Promise.all([page.waitForEvent("download"), page.locator("#save-csv").click()]);
  const lines = readFileSync(await csv.path(), "utf8").trim().split("\n");
  assert.equal(lines.length, n + 1, "CSV has a header and one row per answer");
  assert.ok(lines[0].startsWith("question,image,truth,answer,correct"), lines[0]);

  // (b) Every answer "real" by key R, then (c) "synthetic" by key S.
  assert.deepEqual(await takeQuiz(page, () => "real", "key"), { correct: nReal, total: n });
  assert.deepEqual(await takeQuiz(page, () => "synthetic", "key"), { correct: n - nReal, total: n });

  // A fresh quiz page, for its screenshot at the first question.
  await page.goto(url("quiz.html"));
  await page.locator("#question-image").evaluate((img) => img.decode());
  await page.screenshot({ path: join(shots, "quiz.png"), fullPage: true });

  // The library: every image loads, and the class filter shows one class.
  await page.goto(url("index.html"));
  const images = page.locator("img");
  for (let i = 0; i < (await images.count()); i++) {
    await images.nth(i).scrollIntoViewIfNeeded();
    assert.ok(await images.nth(i).evaluate((img) => img.decode().then(() => img.naturalWidth > 0)), "image loads");
    assert.ok((await images.nth(i).getAttribute("alt")).length > 0, "image has alt text");
  }
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: join(shots, "index.png"), fullPage: true });
  const filter = page.locator('.filters button[data-filter="1"]');
  await filter.click();
  assert.equal(await filter.getAttribute("aria-pressed"), "true");
  for (const group of await page.locator(".class-group").all()) {
    assert.equal(await group.isVisible(), (await group.getAttribute("data-class")) === "1");
  }

  // The report, when the site has one.
  if (await page.locator('nav a[href="report.html"]').count()) {
    await page.goto(url("report.html"));
    for (const img of await page.locator("img").all()) {
      assert.ok(await img.evaluate((i) => i.decode().then(() => i.naturalWidth > 0)), "report image loads");
    }
    await page.screenshot({ path: join(shots, "report.png"), fullPage: true });
  }

  // A phone-sized view of the library and the quiz.
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(url("index.html"));
  await page.screenshot({ path: join(shots, "index-phone.png") });
  await page.goto(url("quiz.html"));
  await page.locator("#question-image").evaluate((img) => img.decode());
  await page.screenshot({ path: join(shots, "quiz-phone.png") });

  assert.deepEqual(problems, [], "pages loaded cleanly");
  console.log(`browser check passed: ${n} questions (${nReal} real), screenshots in ${shots}`);
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
