// Drives the system Chromium (through playwright-core) against a running
// `forger teach serve`:
//   node readers.mjs READER_URL RESULTS_URL QUIZ_JSON OUT_JSON SHOTS_DIR
// Two readers, each in a browser context of their own, take the reader
// study at the same time with answers fixed in advance from the answer key
// (QUIZ_JSON); one closes the tab half-way and resumes in a new one. The
// script computes the statistics those answers imply (accuracy, exact
// binomial p, sensitivity, specificity, ROC AUC with ties half, Fleiss'
// kappa) on its own, checks the results page shows them, and writes them
// to OUT_JSON for the Rust test to compare with `forger teach results`.
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import assert from "node:assert/strict";
import { chromium } from "playwright-core";

const [readerUrl, resultsUrl, keyPath, outPath, shotsArg] = process.argv.slice(2);
if (!shotsArg) {
  console.error("usage: node readers.mjs READER_URL RESULTS_URL QUIZ_JSON OUT_JSON SHOTS_DIR");
  process.exit(2);
}
const shots = resolve(shotsArg);
mkdirSync(shots, { recursive: true });
const key = JSON.parse(readFileSync(keyPath, "utf8")).questions;
const origin = new URL(readerUrl).origin;

// The readers and their fixed answers: case id -> [answer, confidence, note].
const readers = [
  {
    name: "Ann Resident",
    level: "resident",
    // Right except on every third case; ratings 1-2 for real, 4-5 for synthetic.
    choose(id, truth) {
      const answer = id % 3 === 0 ? (truth === "real" ? "synthetic" : "real") : truth;
      const confidence = answer === "real" ? 1 + (id % 2) : 4 + (id % 2);
      return [answer, confidence, id % 3 === 0 ? `fooled by case ${id}` : ""];
    },
  },
  {
    // A name that must be shown escaped.
    name: "<b>Bob</b> & co",
    level: "student",
    // "Real" unless the case number is 1 mod 4; often unsure (3).
    choose(id) {
      const answer = id % 4 === 1 ? "synthetic" : "real";
      const confidence = answer === "real" ? (id % 2 ? 3 : 2) : 3 + (id % 3 === 0 ? 2 : 0);
      return [answer, confidence, "<script>alert('note')</script>"];
    },
  },
];

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
});

const problems = [];
function watch(page) {
  page.on("pageerror", (e) => problems.push(`page error on ${page.url()}: ${e.message}`));
  // Chromium logs each 4xx as a console error: those are checked below.
  page.on("console", (m) => {
    if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) problems.push(`console error on ${page.url()}: ${m.text()}`);
  });
  page.on("request", (r) => {
    if (!r.url().startsWith(origin)) problems.push(`request off the server: ${r.url()}`);
  });
  // Expected: "not signed in" before sign-in, and no favicon.
  page.on("response", (r) => {
    const path = new URL(r.url()).pathname;
    const expected = (r.status() === 401 && path === "/api/state") || (r.status() === 404 && path === "/favicon.ico");
    if (r.status() >= 400 && !expected) problems.push(`HTTP ${r.status()} for ${r.url()}`);
  });
  return page;
}

async function visibleAnswerButtons(page) {
  const all = page.locator('[data-answer="real"], [data-answer="synthetic"]');
  const visible = [];
  for (let i = 0; i < (await all.count()); i++) {
    if (await all.nth(i).isVisible()) visible.push(await all.nth(i).getAttribute("data-answer"));
  }
  return visible.sort();
}

// Answers `count` cases (or all that are left) on `page`; returns the ids.
async function answerCases(page, reader, given, count) {
  for (let n = 0; n < count; n++) {
    if (await page.locator("#result").count()) return;
    assert.deepEqual(await visibleAnswerButtons(page), ["real", "synthetic"], `${reader.name}: answer buttons`);
    const img = page.locator("#case-image");
    // The image of the case the page is on: /case/ID.
    await page.waitForFunction((n) => document.getElementById("progress").textContent.startsWith(`Case ${n} `), given.size + 1);
    const id = Number((await img.getAttribute("src")).split("/").pop());
    assert.ok(!given.has(id), `${reader.name}: case ${id} is asked once`);
    assert.ok(await img.evaluate((i) => i.decode().then(() => i.naturalWidth > 0)), "the case image loads");
    const [answer, confidence, note] = reader.choose(id, key[id - 1].answer);
    await page.locator(`[data-answer="${answer}"]`).click();
    if (note) await page.locator("#note").fill(note);
    await page.locator(`[data-confidence="${confidence}"]`).click();
    given.set(id, { answer, confidence, truth: key[id - 1].answer });
    await page.waitForFunction(
      (n) => document.getElementById("result") || document.getElementById("progress").textContent.startsWith(`Case ${n} `),
      given.size + 1,
    );
  }
}

// Statistics of answers [{answer, confidence, truth}], computed here.
function binomialHalf(k, n) {
  const tail = Math.min(k, n - k);
  if (2 * tail === n) return 1;
  let c = 1;
  let sum = 0;
  for (let i = 0; i <= tail; i++) {
    sum += c;
    c = (c * (n - i)) / (i + 1);
  }
  return Math.min(1, (2 * sum) / 2 ** n);
}
function auc(answers) {
  const s = answers.filter((a) => a.truth === "synthetic").map((a) => a.confidence);
  const r = answers.filter((a) => a.truth === "real").map((a) => a.confidence);
  if (!s.length || !r.length) return null;
  let wins = 0;
  for (const x of s) for (const y of r) wins += x > y ? 1 : x === y ? 0.5 : 0;
  return wins / (s.length * r.length);
}
function scores(answers) {
  const correct = answers.filter((a) => a.answer === a.truth).length;
  const synthetic = answers.filter((a) => a.truth === "synthetic");
  const real = answers.filter((a) => a.truth === "real");
  return {
    answered: answers.length,
    correct,
    accuracy: correct / answers.length,
    p_value: binomialHalf(correct, answers.length),
    sensitivity: synthetic.filter((a) => a.answer === "synthetic").length / synthetic.length,
    specificity: real.filter((a) => a.answer === "real").length / real.length,
    auc: auc(answers),
  };
}

const contexts = await Promise.all(readers.map(() => browser.newContext({ viewport: { width: 1100, height: 900 } })));
const given = readers.map(() => new Map());
try {
  const pages = await Promise.all(contexts.map(async (c) => watch(await c.newPage())));
  // Sign in, both at once.
  await Promise.all(
    readers.map(async (reader, i) => {
      const page = pages[i];
      await page.goto(readerUrl);
      await page.locator("#reader-name").fill(reader.name);
      await page.locator("#reader-level").selectOption(reader.level);
      await page.locator("#start").click();
      await page.locator("#case-image").waitFor({ state: "visible" });
    }),
  );
  await pages[0].screenshot({ path: join(shots, "reader.png"), fullPage: true });
  const half = Math.floor(key.length / 2);
  // Both answer half the cases at the same time; Ann then closes her tab.
  await Promise.all(readers.map((reader, i) => answerCases(pages[i], reader, given[i], half)));
  await pages[0].close();
  // A new tab resumes at her next case, with no sign-in.
  const again = watch(await contexts[0].newPage());
  await again.goto(readerUrl);
  await again.locator("#case-image").waitFor({ state: "visible" });
  assert.equal(await again.locator("#sign-in").isVisible(), false, "a returning reader is not asked to sign in");
  assert.equal(await again.locator("#progress").textContent(), `Case ${half + 1} of ${key.length}`);
  pages[0] = again;
  await Promise.all(readers.map((reader, i) => answerCases(pages[i], reader, given[i], key.length)));

  const expected = { readers: {}, overall: scores(given.flatMap((g) => [...g.values()])) };
  for (const [i, reader] of readers.entries()) {
    const answers = [...given[i].values()];
    assert.equal(answers.length, key.length, `${reader.name} answered every case`);
    const result = pages[i].locator("#result");
    await result.waitFor({ state: "visible" });
    const s = scores(answers);
    assert.equal(Number(await result.getAttribute("data-correct")), s.correct);
    assert.equal(Number(await result.getAttribute("data-total")), key.length);
    assert.deepEqual(await visibleAnswerButtons(pages[i]), [], "no answer buttons after the last case");
    expected.readers[reader.name] = s;
  }
  // Fleiss' kappa of two readers who rated every case: observed agreement
  // against the chance agreement of the pooled shares.
  const agree = key.filter((_, c) => given[0].get(c + 1).answer === given[1].get(c + 1).answer).length / key.length;
  const pSynthetic = given.flatMap((g) => [...g.values()]).filter((a) => a.answer === "synthetic").length / (2 * key.length);
  const chance = pSynthetic ** 2 + (1 - pSynthetic) ** 2;
  expected.fleiss_kappa = (agree - chance) / (1 - chance);
  await pages[1].screenshot({ path: join(shots, "reader-done.png"), fullPage: true });

  // The results page shows the same numbers, escaped.
  const results = watch(await contexts[0].newPage());
  await results.goto(resultsUrl);
  const shown = (locator) => results.locator(locator).textContent();
  const fmt = (x) => (x === null ? "–" : x.toFixed(3));
  const fmtP = (p) => (p < 0.001 ? p.toExponential(1) : p.toFixed(3));
  for (const reader of readers) {
    const s = expected.readers[reader.name];
    const row = results.locator("#readers tr[data-reader]").filter({ has: results.locator(`th:text-is("${reader.name.replace(/"/g, '\\"')}")`) });
    assert.equal(await row.count(), 1, `one results row for ${reader.name}`);
    for (const stat of ["accuracy", "sensitivity", "specificity", "auc"]) {
      assert.equal(await row.locator(`[data-stat="${stat}"]`).textContent(), fmt(s[stat]), `${reader.name}: ${stat}`);
    }
    assert.equal(await row.locator('[data-stat="p_value"]').textContent(), fmtP(s.p_value), `${reader.name}: p`);
  }
  assert.equal(await shown('#pooled [data-stat="fleiss_kappa"]'), fmt(expected.fleiss_kappa), "Fleiss' kappa");
  assert.equal(await shown('#pooled [data-stat="auc"]'), fmt(expected.overall.auc), "pooled AUC");
  assert.equal(await results.locator("main b, main script").count(), 0, "names and notes are shown as text");
  for (const img of await results.locator(".misjudged img").all()) {
    assert.ok(await img.evaluate((i) => i.decode().then(() => i.naturalWidth > 0)), "misjudged case image loads");
  }
  assert.ok((await results.locator(".misjudged figure").count()) > 0, "the misjudged cases are shown");
  await results.screenshot({ path: join(shots, "results.png"), fullPage: true });
  // Without the token: refused.
  const refused = await contexts[1].request.get(new URL("/results", readerUrl).href);
  assert.equal(refused.status(), 401);

  assert.deepEqual(problems, [], "pages loaded cleanly");
  writeFileSync(outPath, JSON.stringify(expected, null, 2));
  console.log(`reader-study browser check passed: 2 readers x ${key.length} cases, screenshots in ${shots}`);
} finally {
  await browser.close();
}
