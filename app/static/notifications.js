// Almanac notifications page: mark one or all as read through the JSON API, then
// update the page (and the bell) without a reload.
(function () {
  "use strict";

  var box = document.querySelector("[data-notifications]");
  if (!box || !window.Almanac) return;
  var url = box.dataset.api;
  var error = box.querySelector("[data-notify-error]");

  function updateCounts(unread) {
    var summary = document.querySelector("[data-unread-summary]");
    if (summary) summary.textContent = unread ? unread + " unread" : "Nothing unread.";
    var bell = document.querySelector(".tool-button .badge-dot");
    var bellText = document.querySelector(".tool-button .visually-hidden");
    if (bell) {
      if (unread) bell.textContent = unread; else bell.remove();
    }
    if (bellText) bellText.textContent = "Notifications" + (unread ? ", " + unread + " unread" : "");
    if (!unread) {
      var all = box.querySelector("[data-mark-all]");
      if (all) all.remove();
    }
  }

  function markedRead(item) {
    item.classList.remove("notice-unread");
    var pill = item.querySelector("[data-unread-pill]");
    if (pill) pill.remove();
    var button = item.querySelector("[data-mark-read]");
    if (button) {
      // Keep the keyboard where it was: on the item's next control, or the item.
      var next = item.querySelector("a.button");
      button.remove();
      if (next) next.focus();
    }
  }

  function send(body, done) {
    error.hidden = true;
    window.Almanac.api("POST", url, body).then(function (result) {
      if (!result.ok) {
        error.textContent = window.Almanac.describe(result);
        error.hidden = false;
        return;
      }
      done();
      updateCounts(result.body.unread);
    });
  }

  document.addEventListener("click", function (event) {
    var one = event.target.closest("[data-mark-read]");
    if (one) {
      var item = one.closest("[data-notification]");
      send({ ids: [one.dataset.markRead] }, function () { markedRead(item); });
      return;
    }
    if (event.target.closest("[data-mark-all]")) {
      send({ all: true }, function () {
        document.querySelectorAll("[data-notification]").forEach(markedRead);
        var heading = document.querySelector("h1");
        if (heading) { heading.setAttribute("tabindex", "-1"); heading.focus(); }
      });
    }
  });
})();
