// The reader page: sign in, then one case at a time. An answer is recorded
// when a confidence is chosen after the real/synthetic answer (ratings 1-3
// go with "real", 3-5 with "synthetic"). The server keeps the answer key
// and every answer; this page only shows what it is sent.
"use strict";
const $ = (id) => document.getElementById(id);
let current = null;
let chosen = null;
let busy = false;

async function api(path, body) {
  const init = body === undefined
    ? { credentials: "same-origin" }
    : { method: "POST", credentials: "same-origin", headers: { "content-type": "application/json" }, body: JSON.stringify(body) };
  const res = await fetch(path, init);
  const data = await res.json().catch(() => ({ error: `HTTP ${res.status}` }));
  if (!res.ok) throw Object.assign(new Error(data.error || `HTTP ${res.status}`), { status: res.status });
  return data;
}

function fits(answer, confidence) {
  return answer === "real" ? confidence <= 3 : confidence >= 3;
}

function refresh() {
  for (const b of document.querySelectorAll("[data-answer]")) {
    b.setAttribute("aria-pressed", String(b.dataset.answer === chosen));
  }
  for (const b of document.querySelectorAll("[data-confidence]")) {
    b.disabled = busy || chosen === null || !fits(chosen, Number(b.dataset.confidence));
  }
}

function show(state) {
  $("error").textContent = "";
  $("sign-in").hidden = true;
  $("who").textContent = `Reader: ${state.reader.name} (${state.reader.level})`;
  if (state.result) {
    $("test").hidden = true;
    const done = $("done");
    done.hidden = false;
    done.replaceChildren();
    const result = document.createElement("p");
    result.id = "result";
    result.dataset.correct = String(state.result.correct);
    result.dataset.total = String(state.result.total);
    result.textContent = `Done: ${state.result.correct} of ${state.result.total} right. Thank you!`;
    done.append(result);
    return;
  }
  current = state.case;
  chosen = null;
  $("test").hidden = false;
  $("progress").textContent = `Case ${state.answered + 1} of ${state.total}`;
  const img = $("case-image");
  const scale = Math.max(1, Math.floor(256 / Math.max(current.width, current.height)));
  img.width = current.width * scale;
  img.height = current.height * scale;
  img.src = current.image;
  $("note").value = "";
  refresh();
}

function fail(e) {
  $("error").textContent = e.message;
}

$("start").addEventListener("click", () => {
  const name = $("reader-name").value.trim();
  if (!name) return fail(new Error("Type your name or ID first."));
  api("/api/sign-in", { name, level: $("reader-level").value }).then(show, fail);
});

for (const b of document.querySelectorAll("[data-answer]")) {
  b.addEventListener("click", () => { chosen = b.dataset.answer; refresh(); });
}

for (const b of document.querySelectorAll("[data-confidence]")) {
  b.addEventListener("click", async () => {
    if (busy || !current || chosen === null) return;
    busy = true;
    refresh();
    try {
      show(await api("/api/answer", { case: current.id, answer: chosen, confidence: Number(b.dataset.confidence), note: $("note").value }));
    } catch (e) {
      fail(e);
      // Answered elsewhere (another tab): pick up where the server is.
      if (e.status === 409) api("/api/state").then(show, fail);
    } finally {
      busy = false;
      refresh();
    }
  });
}

api("/api/state").then(show, (e) => {
  if (e.status === 401) $("sign-in").hidden = false;
  else fail(e);
});
