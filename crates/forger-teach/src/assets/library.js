// Case library: class filter buttons (hidden when scripts do not run).
(function () {
  "use strict";
  var filters = document.querySelector(".filters");
  if (!filters) return;
  var buttons = filters.querySelectorAll("button[data-filter]");
  var groups = document.querySelectorAll(".class-group");
  function show(value) {
    buttons.forEach(function (b) {
      b.setAttribute("aria-pressed", String(b.dataset.filter === value));
    });
    groups.forEach(function (g) {
      g.hidden = value !== "" && g.dataset.class !== value;
    });
  }
  buttons.forEach(function (b) {
    b.addEventListener("click", function () { show(b.dataset.filter); });
  });
  filters.hidden = false;
})();
