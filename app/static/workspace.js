// Almanac workspace pages: calls to the JSON API with the session's CSRF token, and
// forms that post to it (<form data-api="URL" data-method="POST" data-done="reload">).
(function () {
  "use strict";

  function csrf() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }

  // fetch + JSON; resolves to {ok, status, body, headers}; never throws on HTTP errors.
  function api(method, url, body, headers) {
    var init = { method: method, headers: Object.assign({ "X-CSRF-Token": csrf(), Accept: "application/json" }, headers || {}), credentials: "same-origin" };
    if (body instanceof FormData) {
      init.body = body;
    } else if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    return fetch(url, init).then(function (response) {
      return response.text().then(function (text) {
        var parsed = null;
        try { parsed = text ? JSON.parse(text) : null; } catch (e) { parsed = { detail: text }; }
        return { ok: response.ok, status: response.status, body: parsed, headers: response.headers };
      });
    }, function () {
      return { ok: false, status: 0, body: { detail: "Almanac could not be reached; check the connection and try again." }, headers: new Headers() };
    });
  }

  // "Detail. field: message; …" from the one error shape of the API.
  function describe(result) {
    var body = result.body || {};
    var text = body.detail || ("The request failed (HTTP " + result.status + ").");
    if (typeof text !== "string") text = JSON.stringify(text);
    var errors = Array.isArray(body.errors) ? body.errors : [];
    var extra = errors.filter(function (e) { return e && e.message && text.indexOf(e.message) < 0; })
      .map(function (e) { return (e.field ? e.field + ": " : "") + e.message; });
    return extra.length ? text + " " + extra.join("; ") : text;
  }

  function setPath(target, path, value) {
    var keys = path.split(".");
    var last = keys.pop();
    keys.forEach(function (key) { target = target[key] = target[key] || {}; });
    target[last] = value;
  }

  // Form fields → JSON. data-type: int (left out when empty), lines (a list),
  // themes ("2026-W49 A theme" per line); data-optional: left out when empty.
  function collect(form) {
    var data = {};
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name || el.disabled || el.name === "csrf_token" || el.type === "submit" || el.type === "button") return;
      if ((el.type === "checkbox" || el.type === "radio") && !el.checked) return;
      var value = el.value;
      var type = el.dataset.type;
      if (type === "int") {
        if (value.trim() === "") return;
        value = parseInt(value, 10);
      } else if (type === "themes") {
        value = value.split("\n").map(function (line) { return line.trim(); }).filter(Boolean)
          .map(function (line) {
            var space = line.search(/\s/);
            return space < 0 ? { week: line, theme: "" } : { week: line.slice(0, space), theme: line.slice(space + 1).trim() };
          });
      } else if (el.dataset.optional !== undefined && value.trim() === "") {
        return;
      }
      setPath(data, el.name, value);
    });
    return data;
  }

  function showError(form, message) {
    var box = form.querySelector("[data-form-error]");
    if (!box) { window.alert(message); return; }
    box.textContent = message;
    box.hidden = !message;
    if (message) box.focus && box.setAttribute("tabindex", "-1");
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.dataset.api) return;
    event.preventDefault();
    if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) return;
    var button = form.querySelector('[type="submit"]');
    if (button) button.disabled = true;
    showError(form, "");
    api(form.dataset.method || "POST", form.dataset.api, collect(form)).then(function (result) {
      if (button) button.disabled = false;
      if (!result.ok) {
        showError(form, describe(result));
        return;
      }
      var done = form.dataset.done || "reload";
      if (done.indexOf("go:") === 0) {
        var body = result.body || {};
        var id = body.id || (body.plan && body.plan.id) || "";
        window.location.assign(done.slice(3).replace("{id}", id));
      } else if (done.indexOf("follow:") === 0) {
        // The answer names where to go (an OAuth start: the network's consent page).
        window.location.assign((result.body || {})[done.slice(7)]);
      } else {
        window.location.reload();
      }
    });
  });

  window.Almanac = { api: api, describe: describe, collect: collect, csrf: csrf };
})();
