// Almanac settings page: save the workspace's policy (PATCH, typed fields), add a
// webhook (its secret is shown once, here), test / enable / rotate / delete one.
(function () {
  "use strict";

  if (!window.Almanac) return;
  var api = window.Almanac.api;
  var describe = window.Almanac.describe;

  function fail(box, result) {
    if (!box) return;
    box.textContent = describe(result);
    box.hidden = false;
  }

  function showSecret(box, secret, what) {
    box.textContent = "";
    var intro = document.createElement("p");
    intro.textContent = what + " Copy it now: it is shown only this once.";
    var code = document.createElement("code");
    code.textContent = secret;
    code.setAttribute("data-secret", "");
    var done = document.createElement("a");
    done.href = window.location.pathname;
    done.textContent = "Done, I copied it";
    box.appendChild(intro);
    box.appendChild(code);
    box.appendChild(done);
    box.hidden = false;
    box.setAttribute("tabindex", "-1");
    box.focus();
  }

  var settings = document.querySelector("form[data-settings]");
  if (settings) {
    settings.addEventListener("submit", function (event) {
      event.preventDefault();
      var body = {};
      Array.prototype.forEach.call(settings.elements, function (el) {
        if (!el.name || el.disabled) return;
        if (el.dataset.type === "bool") body[el.name] = el.checked;
        else if (el.dataset.type === "int") body[el.name] = parseInt(el.value, 10);
        else body[el.name] = el.value;
      });
      var error = settings.querySelector("[data-form-error]");
      var saved = settings.querySelector("[data-saved]");
      error.hidden = true;
      saved.textContent = "";
      api("PATCH", settings.dataset.url, body).then(function (result) {
        if (!result.ok) { fail(error, result); return; }
        saved.textContent = "Saved.";
      });
    });
  }

  var create = document.querySelector("form[data-webhook-create]");
  if (create) {
    create.addEventListener("submit", function (event) {
      event.preventDefault();
      var types = Array.prototype.filter.call(create.elements.event_types, function (el) { return el.checked; })
        .map(function (el) { return el.value; });
      var body = { url: create.elements.url.value, description: create.elements.description.value, event_types: types };
      var error = create.querySelector("[data-form-error]");
      error.hidden = true;
      if (!types.length) {
        error.textContent = "Choose at least one event to send.";
        error.hidden = false;
        return;
      }
      api("POST", create.dataset.url, body).then(function (result) {
        if (!result.ok) { fail(error, result); return; }
        create.querySelector('[type="submit"]').disabled = true;
        showSecret(create.querySelector("[data-secret-box]"), result.body.secret,
          "Webhook added. Its signing secret:");
      });
    });
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-webhook-action]");
    if (!button) return;
    var item = button.closest("[data-webhook]");
    var error = item.querySelector("[data-webhook-error]");
    var action = button.dataset.webhookAction;
    error.hidden = true;
    var request;
    if (action === "delete") {
      if (!window.confirm("Delete this webhook and its delivery history?")) return;
      request = api("DELETE", button.dataset.url);
    } else if (action === "toggle") {
      request = api("PATCH", button.dataset.url, { enabled: button.dataset.enabled === "true" });
    } else if (action === "rotate") {
      if (!window.confirm("Make a new secret? The receiver must use it from now on.")) return;
      request = api("POST", button.dataset.url);
    } else {
      request = api("POST", button.dataset.url);
    }
    button.disabled = true;
    request.then(function (result) {
      button.disabled = false;
      if (!result.ok) { fail(error, result); return; }
      if (action === "rotate") {
        showSecret(item.querySelector("[data-secret-box]"), result.body.secret, "The new signing secret:");
      } else if (action === "test") {
        var box = item.querySelector("[data-secret-box]");
        box.textContent = "Test event queued: the scheduler sends it within a few seconds; reload to see its outcome.";
        box.hidden = false;
      } else {
        window.location.reload();
      }
    });
  });
})();
