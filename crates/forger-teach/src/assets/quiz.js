// Reader test: one question at a time, answered with the buttons or the keys
// R and S (and 1-9 for the class when asked); then the score, a per-class
// table, a review of every answer and the results as JSON and CSV downloads.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("quiz-data").textContent);
  var questions = data.questions;
  var section = document.getElementById("question");
  var progress = document.getElementById("progress");
  var image = document.getElementById("question-image");
  var resultArea = document.getElementById("result-area");
  var classChoice = document.getElementById("class-choice");
  var answers = [];
  var current = 0;
  var downloads = [];

  function el(tag, text, attrs) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = text;
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    return node;
  }

  function percent(part, whole) {
    return whole ? Math.round((100 * part) / whole) + "%" : "n/a";
  }

  function start() {
    answers = [];
    current = 0;
    downloads.forEach(function (url) { URL.revokeObjectURL(url); });
    downloads = [];
    resultArea.textContent = "";
    section.hidden = false;
    show();
  }

  function show() {
    var q = questions[current];
    progress.textContent = "Question " + (current + 1) + " of " + questions.length;
    image.src = q.image;
    image.width = q.width;
    image.height = q.height;
    image.alt = "Question " + (current + 1) + ": is this image real or synthetic?";
    if (classChoice) {
      classChoice.querySelectorAll("input").forEach(function (i) { i.checked = false; });
    }
  }

  function answer(choice) {
    if (section.hidden) return;
    var q = questions[current];
    var picked = classChoice ? classChoice.querySelector("input:checked") : null;
    answers.push({
      question: current + 1,
      image: q.image,
      truth: q.answer,
      answer: choice,
      correct: choice === q.answer,
      "class": q["class"],
      classAnswer: picked ? picked.value : null
    });
    current += 1;
    if (current < questions.length) show(); else finish();
  }

  function count(list, test) {
    return list.filter(test).length;
  }

  function download(name, type, text, label) {
    var url = URL.createObjectURL(new Blob([text], { type: type }));
    downloads.push(url);
    return el("a", label, { href: url, download: name, id: "save-" + name.split(".").pop() });
  }

  function csv(rows) {
    return rows.map(function (row) {
      return row.map(function (cell) {
        var s = cell === null ? "" : String(cell);
        return /[",\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
      }).join(",");
    }).join("\n") + "\n";
  }

  function finish() {
    section.hidden = true;
    var total = answers.length;
    var correct = count(answers, function (a) { return a.correct; });
    var synthetic = answers.filter(function (a) { return a.truth === "synthetic"; });
    var real = answers.filter(function (a) { return a.truth === "real"; });
    var passed = count(synthetic, function (a) { return a.answer === "real"; });
    var doubted = count(real, function (a) { return a.answer === "synthetic"; });
    var classRight = count(answers, function (a) { return a.classAnswer === a["class"]; });

    var result = el("section", null, {
      id: "result", "class": "result", tabindex: "-1",
      "data-correct": String(correct), "data-total": String(total), "aria-labelledby": "result-h"
    });
    result.appendChild(el("h2", "Your result", { id: "result-h" }));
    result.appendChild(el("p", correct + " of " + total + " right (" + percent(correct, total) + ")", { "class": "score" }));
    var facts = el("ul");
    facts.appendChild(el("li", "Synthetic images you took for real: " + passed + " of " + synthetic.length + " (" + percent(passed, synthetic.length) + ")"));
    facts.appendChild(el("li", "Real images you took for synthetic: " + doubted + " of " + real.length + " (" + percent(doubted, real.length) + ")"));
    if (data.askClass) {
      facts.appendChild(el("li", "Class named right: " + classRight + " of " + total + " (" + percent(classRight, total) + ")"));
    }
    result.appendChild(facts);

    var table = el("table");
    var head = el("tr");
    var columns = ["Class", "Questions", "Right", "Accuracy", "Synthetic taken for real"];
    if (data.askClass) columns.push("Class named right");
    columns.forEach(function (c) { head.appendChild(el("th", c, { scope: "col" })); });
    table.appendChild(el("caption", "By class"));
    table.appendChild(head);
    data.classes.forEach(function (name) {
      var of = answers.filter(function (a) { return a["class"] === name; });
      var right = count(of, function (a) { return a.correct; });
      var syn = of.filter(function (a) { return a.truth === "synthetic"; });
      var cells = [name, of.length, right, percent(right, of.length),
        count(syn, function (a) { return a.answer === "real"; }) + " of " + syn.length];
      if (data.askClass) cells.push(count(of, function (a) { return a.classAnswer === name; }) + " of " + of.length);
      var row = el("tr");
      cells.forEach(function (c, i) { row.appendChild(el(i ? "td" : "th", String(c), i ? {} : { scope: "row" })); });
      table.appendChild(row);
    });
    result.appendChild(table);

    var saved = {
      generator: "forger-teach",
      finishedAt: new Date().toISOString(),
      correct: correct,
      total: total,
      askClass: data.askClass,
      answers: answers
    };
    var rows = [["question", "image", "truth", "answer", "correct", "class", "class_answer"]].concat(
      answers.map(function (a) { return [a.question, a.image, a.truth, a.answer, a.correct, a["class"], a.classAnswer]; }));
    var actions = el("div", null, { "class": "actions" });
    actions.appendChild(download("forger-reader-test.json", "application/json", JSON.stringify(saved, null, 2), "Save results (JSON)"));
    actions.appendChild(download("forger-reader-test.csv", "text/csv", csv(rows), "Save results (CSV)"));
    var again = el("button", "Take the test again", { type: "button" });
    again.addEventListener("click", start);
    actions.appendChild(again);
    result.appendChild(actions);

    result.appendChild(el("h3", "Every answer"));
    var review = el("ol", null, { "class": "review" });
    answers.forEach(function (a) {
      var item = el("li", null, { "class": a.correct ? "right" : "wrong" });
      item.appendChild(el("img", null, { src: a.image, alt: "Question " + a.question + ", " + a.truth + " " + a["class"] + " case", width: "72", height: "72" }));
      var text = el("div");
      text.appendChild(el("div", "Question " + a.question + ": " + (a.correct ? "\u2713 right" : "\u2717 wrong"), { "class": "verdict" }));
      text.appendChild(el("div", "Truth: " + a.truth + ", class " + a["class"]));
      text.appendChild(el("div", "You said: " + a.answer + (data.askClass ? ", class " + (a.classAnswer || "not given") : "")));
      item.appendChild(text);
      review.appendChild(item);
    });
    result.appendChild(review);
    resultArea.appendChild(result);
    result.focus();
  }

  document.querySelectorAll("#question [data-answer]").forEach(function (button) {
    button.addEventListener("click", function () { answer(button.dataset.answer); });
  });
  document.addEventListener("keydown", function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey || section.hidden) return;
    var key = e.key.toLowerCase();
    if (key === "r" || key === "s") {
      e.preventDefault();
      answer(key === "r" ? "real" : "synthetic");
    } else if (classChoice && /^[1-9]$/.test(key)) {
      var input = classChoice.querySelectorAll("input")[Number(key) - 1];
      if (input) { input.checked = true; e.preventDefault(); }
    }
  });
  if (questions.length) start();
})();
