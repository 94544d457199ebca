// Almanac settings page: save the workspace's policy (PATCH, typed fields), add a
// webhook (its secret is shown once, here), test / enable / rotate / delete one;
// members: change a role (PATCH on change), remove a member or leave, invite someone
// (the link is shown once, here) and withdraw a pending invitation.
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
  // -- members and invitations --------------------------------------------------------

  function roleName(role) {
    return role ? role.charAt(0).toUpperCase() + role.slice(1) : "";
  }

  function say(box, text) {
    if (!box) return;
    box.textContent = text;
  }

  var members = document.querySelector("[data-members]");
  var membersStatus = document.querySelector("[data-members-status]");

  function rowMessages(row, selector) {
    var error = row.querySelector(selector);
    var saved = row.querySelector("[data-member-saved]");
    error.hidden = true;
    error.textContent = "";
    say(saved, "");
    return { error: error, saved: saved };
  }

  // A role select sends its value on change; a change made while one is on its way is
  // sent when that one answers (arrow keys in a closed select change it step by step).
  function sendRole(select) {
    var row = select.closest("[data-member]");
    if (row.dataset.busy) return;
    var wanted = select.value;
    if (wanted === select.dataset.current) return;
    var name = row.dataset.name;
    if (wanted === "owner" && !window.confirm("Make " + name + " an owner? Owners can do everything, including removing other owners.")) {
      select.value = select.dataset.current;
      return;
    }
    var out = rowMessages(row, "[data-member-error]");
    row.dataset.busy = "1";
    row.setAttribute("aria-busy", "true");
    api("PATCH", row.dataset.url, { role: wanted }).then(function (result) {
      delete row.dataset.busy;
      row.removeAttribute("aria-busy");
      if (!result.ok) {
        select.value = select.dataset.current;
        fail(out.error, result);
        return;
      }
      select.dataset.current = result.body.role;
      if (row.hasAttribute("data-self")) {
        // The viewer's own role changed: what they may do on this page changed too.
        window.location.reload();
        return;
      }
      if (select.value !== select.dataset.current) {
        sendRole(select);
        return;
      }
      say(out.saved, name + " is now " + roleName(result.body.role) + ".");
    });
  }

  if (members) {
    members.addEventListener("change", function (event) {
      var select = event.target.closest("[data-member-role]");
      if (select) sendRole(select);
    });
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-member-action]");
    if (!button) return;
    var row = button.closest("[data-member]");
    var name = row.dataset.name;
    var leaving = button.dataset.memberAction === "leave";
    var workspace = members.dataset.workspace;
    var question = leaving
      ? "Leave " + workspace + "? You lose access at once; an admin must invite you again to come back."
      : "Remove " + name + " from " + workspace + "? They lose access at once; their posts stay.";
    if (!window.confirm(question)) return;
    var out = rowMessages(row, "[data-member-error]");
    button.disabled = true;
    api("DELETE", row.dataset.url).then(function (result) {
      button.disabled = false;
      if (!result.ok) { fail(out.error, result); return; }
      if (leaving) {
        window.location.assign("/");
        return;
      }
      row.parentNode.removeChild(row);
      say(membersStatus, name + " was removed from " + workspace + ".");
      membersStatus.focus();
    });
  });

  // "Tue 9 Mar 2027, 09:30" in the workspace's zone, as the server writes times.
  function wallTime(iso, zone) {
    try {
      var parts = {};
      new Intl.DateTimeFormat("en-GB", {
        timeZone: zone, weekday: "short", day: "numeric", month: "short", year: "numeric",
        hour: "2-digit", minute: "2-digit", hourCycle: "h23"
      }).formatToParts(new Date(iso)).forEach(function (p) { parts[p.type] = p.value; });
      return parts.weekday + " " + parts.day + " " + parts.month + " " + parts.year + ", " + parts.hour + ":" + parts.minute;
    } catch (e) {
      return iso;
    }
  }

  var invitations = document.querySelector("[data-invitations]");

  function invitationRows() {
    return invitations.querySelectorAll("tbody [data-invitation]");
  }

  function showInvitationTable() {
    var any = invitationRows().length > 0;
    invitations.querySelector("[data-invitations-table]").hidden = !any;
    invitations.querySelector("[data-invitations-empty]").hidden = any;
  }

  function addInvitation(invite, body) {
    // Inviting an address again replaces its pending invitation (the old link stops).
    Array.prototype.forEach.call(invitationRows(), function (row) {
      if (row.dataset.email === body.email) row.parentNode.removeChild(row);
    });
    var template = invitations.querySelector("template[data-invitation-template]");
    var row = template.content.firstElementChild.cloneNode(true);
    row.dataset.invitation = body.id;
    row.dataset.email = body.email;
    row.dataset.url = invite.dataset.url + "/" + body.id;
    var values = {
      email: body.email,
      role: roleName(body.role),
      expires: wallTime(body.expires_at, invite.dataset.timezone),
      invited_by: invite.dataset.inviter || "—",
      withdraw_label: " the invitation for " + body.email
    };
    Array.prototype.forEach.call(row.querySelectorAll("[data-field]"), function (cell) {
      cell.textContent = values[cell.dataset.field];
    });
    var tbody = invitations.querySelector("tbody");
    tbody.insertBefore(row, tbody.firstChild);
    showInvitationTable();
  }

  function showLink(box, link, intro) {
    box.textContent = "";
    var text = document.createElement("p");
    text.textContent = intro + " Send this link to them: it works for seven days and is shown only this once, so copy it now.";
    var value = document.createElement("div");
    value.className = "token-value";
    var label = document.createElement("label");
    label.className = "visually-hidden";
    label.htmlFor = "invite-link-value";
    label.textContent = "Invitation link";
    var field = document.createElement("input");
    field.id = "invite-link-value";
    field.className = "input-code";
    field.type = "text";
    field.readOnly = true;
    field.spellcheck = false;
    field.value = link;
    field.addEventListener("focus", function () { field.select(); });
    var copy = document.createElement("button");
    copy.className = "button button-small";
    copy.type = "button";
    copy.textContent = "Copy";
    var copied = document.createElement("p");
    copied.className = "field-hint";
    copy.addEventListener("click", function () {
      field.select();
      var done = function () { copied.textContent = "Copied."; };
      var manual = function () { copied.textContent = "The link is selected: press Ctrl+C (⌘C on a Mac) to copy it."; };
      if (navigator.clipboard && navigator.clipboard.writeText) {
        navigator.clipboard.writeText(field.value).then(done, manual);
      } else {
        manual();
      }
    });
    value.appendChild(label);
    value.appendChild(field);
    value.appendChild(copy);
    box.appendChild(text);
    box.appendChild(value);
    box.appendChild(copied);
    box.hidden = false;
    field.focus();
  }

  var invite = document.querySelector("form[data-invite]");
  if (invite) {
    invite.addEventListener("submit", function (event) {
      event.preventDefault();
      var body = { email: invite.elements.email.value.trim(), role: invite.elements.role.value };
      var error = invite.querySelector("[data-form-error]");
      var box = document.querySelector("[data-invite-link]");
      var button = invite.querySelector('[type="submit"]');
      error.hidden = true;
      box.hidden = true;
      box.textContent = "";
      button.disabled = true;
      api("POST", invite.dataset.url, body).then(function (result) {
        button.disabled = false;
        if (!result.ok) { fail(error, result); return; }
        addInvitation(invite, result.body);
        invite.elements.email.value = "";
        box.dataset.email = result.body.email;
        showLink(box, result.body.link,
          "Invitation for " + result.body.email + " as " + roleName(result.body.role) + " created.");
      });
    });
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-invitation-action]");
    if (!button) return;
    var row = button.closest("[data-invitation]");
    var email = row.dataset.email;
    if (!window.confirm("Withdraw the invitation for " + email + "? Its link stops working at once.")) return;
    var error = row.querySelector("[data-invitation-error]");
    var status = invitations.querySelector("[data-invitations-status]");
    error.hidden = true;
    button.disabled = true;
    api("DELETE", row.dataset.url).then(function (result) {
      button.disabled = false;
      if (!result.ok) { fail(error, result); return; }
      row.parentNode.removeChild(row);
      showInvitationTable();
      var box = document.querySelector("[data-invite-link]");
      if (box && box.dataset.email === email) { box.hidden = true; box.textContent = ""; }
      say(status, "The invitation for " + email + " was withdrawn: its link no longer works.");
      status.focus();
    });
  });
})();
