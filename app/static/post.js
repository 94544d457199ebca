// Almanac post details: "Publish now" (shows what went due and what was held, and
// why), and following the deliveries while they go out: the page polls the JSON
// API every two seconds while one is pending, sending or retrying, and reloads
// when one of them changes status.
(function () {
  "use strict";

  var dataBlock = document.getElementById("post-data");
  if (!dataBlock || !window.Almanac) return;
  var data = JSON.parse(dataBlock.textContent);
  var api = window.Almanac.api;

  var publish = document.querySelector("form[data-publish-now]");
  if (publish) {
    publish.addEventListener("submit", function (event) {
      event.preventDefault();
      if (!window.confirm("Publish this post now on every channel whose copy is approved?")) return;
      var button = publish.querySelector("button");
      var result = document.querySelector("[data-publish-result]");
      var error = document.querySelector("[data-publish-error]");
      button.disabled = true;
      error.hidden = true;
      api("POST", publish.dataset.publishNow).then(function (answer) {
        button.disabled = false;
        if (!answer.ok) {
          error.textContent = window.Almanac.describe(answer);
          error.hidden = false;
          return;
        }
        var lines = [];
        var due = answer.body.due_now || [];
        if (due.length) lines.push("Going out now: " + due.map(function (d) { return d.channel_name; }).join(", ") + ".");
        (answer.body.held || []).forEach(function (held) { lines.push(held.channel_name + " held: " + held.reason); });
        result.textContent = lines.join(" ") || "Nothing to publish.";
        result.hidden = false;
        data.follow = true;
        follow();
      });
    });
  }

  var timer = null;
  function follow() {
    if (timer || !data.follow) return;
    timer = window.setInterval(check, 2000);
  }

  function check() {
    api("GET", data.deliveries_url).then(function (answer) {
      if (!answer.ok || !Array.isArray(answer.body)) return;
      var changed = answer.body.some(function (d) {
        return data.statuses[d.id] !== d.status;
      });
      var moving = answer.body.some(function (d) {
        return ["pending", "sending", "retrying"].indexOf(d.status) >= 0;
      });
      if (changed) {
        answer.body.forEach(function (d) {
          var pill = document.querySelector('[data-delivery="' + d.id + '"] [data-delivery-status]');
          if (pill) {
            pill.textContent = data.names[d.status] || d.status;
            pill.className = "pill " + (data.pills[d.status] || "pill-muted");
          }
          data.statuses[d.id] = d.status;
        });
        // The details (URL, error, actions) come with a reload, unless the person is
        // typing in a field of the page.
        var active = document.activeElement;
        var typing = active && /^(INPUT|TEXTAREA|SELECT)$/.test(active.tagName) && active.value;
        if (!typing) { window.clearInterval(timer); window.location.reload(); return; }
      }
      if (!moving) {
        window.clearInterval(timer);
        timer = null;
      }
    });
  }

  follow();
})();
