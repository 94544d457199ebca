// Calendar: drag a post to another day (or focus it and press M, or use the list
// view's "Move to…" field). The move goes to the JSON API: PATCH the post with the
// same wall time on the new day, with its version as If-Match; the API's message is
// shown when it refuses (a DST gap, a plan's period, a concurrent edit: 412).
(function () {
  "use strict";

  var table = document.querySelector("[data-calendar]");
  if (!table || !window.Almanac) return;
  var apiBase = table.dataset.calendar;
  var writable = table.hasAttribute("data-writable");
  var live = document.querySelector("[data-live]");

  function announce(text) { if (live) live.textContent = text; }

  function dayDiff(from, to) {
    var a = Date.UTC(+from.slice(0, 4), +from.slice(5, 7) - 1, +from.slice(8, 10));
    var b = Date.UTC(+to.slice(0, 4), +to.slice(5, 7) - 1, +to.slice(8, 10));
    return Math.round((b - a) / 86400000);
  }

  // The post's own wall time shifted by whole days (the time of day is kept).
  function shifted(local, days) {
    var d = new Date(Date.UTC(+local.slice(0, 4), +local.slice(5, 7) - 1, +local.slice(8, 10)));
    d.setUTCDate(d.getUTCDate() + days);
    return d.toISOString().slice(0, 10) + local.slice(10);
  }

  function move(chip, targetDay) {
    var days = dayDiff(chip.dataset.day, targetDay);
    if (!days) return Promise.resolve({ ok: true, status: 204, same: true });
    var url = apiBase + "/posts/" + chip.dataset.post;
    // The same occurrence as before when the new day's time happens twice (the server
    // refuses an ambiguous wall time without one).
    var body = { local_at: shifted(chip.dataset.local, days), fold: +(chip.dataset.fold || 0) };
    return window.Almanac.api("PATCH", url, body, { "If-Match": 'W/"' + chip.dataset.version + '"' });
  }

  function report(result, chip) {
    if (result.ok) {
      announce("Moved. Reloading the calendar.");
      window.location.reload();
      return null;
    }
    var message = window.Almanac.describe(result);
    if (result.status === 412) message += " Reload the page to see the current version.";
    return message;
  }

  function errorBanner(message) {
    var box = document.querySelector("[data-move-banner]");
    if (!box) {
      box = document.createElement("div");
      box.className = "banner banner-danger";
      box.setAttribute("role", "alert");
      box.setAttribute("data-move-banner", "");
      var text = document.createElement("p");
      text.className = "banner-text";
      box.appendChild(text);
      table.parentNode.insertBefore(box, table);
    }
    box.querySelector("p").textContent = message;
  }

  if (!writable) return;

  // -- drag and drop ---------------------------------------------------------------
  var dragged = null;
  table.addEventListener("dragstart", function (event) {
    var chip = event.target.closest && event.target.closest("[data-post]");
    if (!chip) return;
    dragged = chip;
    chip.classList.add("dragging");
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", chip.dataset.post);
  });
  table.addEventListener("dragend", function () {
    if (dragged) dragged.classList.remove("dragging");
    dragged = null;
    table.querySelectorAll(".drop-target").forEach(function (el) { el.classList.remove("drop-target"); });
  });
  table.addEventListener("dragover", function (event) {
    var cell = event.target.closest && event.target.closest("td[data-day]");
    if (!cell || !dragged) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = "move";
    table.querySelectorAll(".drop-target").forEach(function (el) { if (el !== cell) el.classList.remove("drop-target"); });
    cell.classList.add("drop-target");
  });
  table.addEventListener("drop", function (event) {
    var cell = event.target.closest && event.target.closest("td[data-day]");
    if (!cell || !dragged) return;
    event.preventDefault();
    var chip = dragged;
    move(chip, cell.dataset.day).then(function (result) {
      if (result.same) return;
      var message = report(result, chip);
      if (message) errorBanner(message);
    });
  });

  // A click on the empty part of a day starts a post on that date.
  table.addEventListener("click", function (event) {
    if (event.target.closest("a, button, input, form")) return;
    var cell = event.target.closest("td[data-day]");
    if (!cell) return;
    var add = cell.querySelector("[data-new-post]") || table.querySelector("[data-new-post]");
    if (add) window.location.assign(add.href.split("?")[0] + "?date=" + cell.dataset.day);
  });

  // -- the keyboard: M on a focused post opens the "Move to…" dialog -----------------
  var dialog = document.getElementById("move-dialog");
  var current = null;
  if (dialog) {
    var form = dialog.querySelector("[data-move-form]");
    var input = dialog.querySelector("#move-date");
    var error = dialog.querySelector("[data-move-error]");
    table.addEventListener("keydown", function (event) {
      if (event.key !== "m" && event.key !== "M") return;
      var chip = event.target.closest && event.target.closest("a[data-post]");
      if (!chip || event.ctrlKey || event.metaKey || event.altKey) return;
      event.preventDefault();
      current = chip;
      dialog.querySelector("[data-move-name]").textContent = "“" + (chip.querySelector(".chip-title") || chip).textContent + "”";
      input.value = chip.dataset.day;
      error.hidden = true;
      dialog.showModal();
      input.focus();
    });
    dialog.querySelector("[data-move-cancel]").addEventListener("click", function () { dialog.close(); });
    dialog.addEventListener("close", function () { if (current) current.focus(); });
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (!current || !input.value) return;
      move(current, input.value).then(function (result) {
        if (result.same) { dialog.close(); return; }
        var message = report(result, current);
        if (message) { error.textContent = message; error.hidden = false; input.focus(); }
      });
    });
  }

  // -- the list view's "Move to…" fields ----------------------------------------------
  document.querySelectorAll("[data-move-inline]").forEach(function (inline) {
    inline.addEventListener("submit", function (event) {
      event.preventDefault();
      var chip = table.querySelector('a[data-post="' + inline.dataset.moveInline + '"]');
      var value = inline.querySelector('input[type="date"]').value;
      if (!chip || !value) return;
      move(chip, value).then(function (result) {
        if (result.same) return;
        var message = report(result, chip);
        if (message) errorBanner(message);
      });
    });
  });
})();
