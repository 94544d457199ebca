// Almanac review inbox: approve or request changes in one click (through the JSON
// API, with the version the reviewer saw), and a keyboard path: j / k move between
// posts, a approves the current one, c goes to its comment box.
(function () {
  "use strict";

  var list = document.querySelector("[data-review-list]");
  if (!list || !window.Almanac) return;

  function items() {
    return Array.prototype.slice.call(list.querySelectorAll("[data-review]:not(.review-finished)"));
  }

  function current() {
    var active = document.activeElement;
    return active && active.closest ? active.closest("[data-review]") : null;
  }

  function focusItem(item) {
    if (!item) return;
    item.focus();
    item.scrollIntoView({ block: "nearest" });
  }

  function move(step) {
    var all = items();
    if (!all.length) return;
    var here = all.indexOf(current());
    var next = here < 0 ? (step > 0 ? 0 : all.length - 1) : Math.min(Math.max(here + step, 0), all.length - 1);
    focusItem(all[next]);
  }

  function updateLede() {
    var left = items().length;
    var lede = document.querySelector(".page-header .lede");
    if (lede) lede.textContent = left ? left + " post" + (left === 1 ? "" : "s") + " waiting for you, soonest first." : "Nothing else waits for your review.";
  }

  function finished(item, message) {
    var next = items()[items().indexOf(item) + 1] || null;
    item.classList.add("review-finished");
    item.querySelector(".review-actions").hidden = true;
    var done = item.querySelector("[data-review-done]");
    done.textContent = message;
    updateLede();
    if (next) {
      focusItem(next);
    } else {
      done.setAttribute("tabindex", "-1");
      done.focus();
    }
  }

  function outcome(step, post) {
    if (step === "request-changes") return "Sent back to its author with your comment.";
    if (post && post.status === "approved") return "Approved: it is scheduled.";
    return "Your approval is counted; the post waits for another reviewer.";
  }

  list.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.dataset.stepUrl) return;
    event.preventDefault();
    var item = form.closest("[data-review]");
    var error = item.querySelector("[data-review-error]");
    var body = { version: parseInt(form.elements.version.value, 10) };
    if (form.elements.comment) {
      body.comment = form.elements.comment.value;
      if (!body.comment.trim()) {
        error.textContent = "Write what should change: the author reads it.";
        error.hidden = false;
        form.elements.comment.focus();
        return;
      }
    }
    var buttons = item.querySelectorAll("button");
    buttons.forEach(function (b) { b.disabled = true; });
    error.hidden = true;
    window.Almanac.api("POST", form.dataset.stepUrl, body).then(function (result) {
      buttons.forEach(function (b) { b.disabled = false; });
      if (result.ok) {
        finished(item, outcome(form.dataset.step, result.body));
        return;
      }
      var text = window.Almanac.describe(result);
      if (result.status === 412) text += " Reload the page to review the latest version.";
      error.textContent = text;
      error.hidden = false;
    });
  });

  document.addEventListener("keydown", function (event) {
    if (event.altKey || event.ctrlKey || event.metaKey) return;
    var target = event.target;
    if (target.closest && target.closest("input, textarea, select, [contenteditable]")) return;
    var item = current();
    if (event.key === "j") { event.preventDefault(); move(1); }
    else if (event.key === "k") { event.preventDefault(); move(-1); }
    else if (event.key === "a" && item && !item.classList.contains("review-finished")) {
      event.preventDefault();
      item.querySelector('[data-step="approve"] button').click();
    } else if (event.key === "c" && item && !item.classList.contains("review-finished")) {
      event.preventDefault();
      item.querySelector("textarea").focus();
    }
  });
})();
