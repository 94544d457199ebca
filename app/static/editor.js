// The post editor. Counts come from the server (POST .../posts/validate): its rules are
// the one source of truth for each network's unit and limit. Saving sends the version
// read (If-Match); a stale one (412) shows who changed what, then reload or keep mine.
(function () {
  "use strict";

  var form = document.getElementById("editor");
  var dataBlock = document.getElementById("editor-data");
  if (!form || !dataBlock || !window.Almanac) return;
  var data = JSON.parse(dataBlock.textContent);
  var api = window.Almanac.api;
  var describe = window.Almanac.describe;
  var readonly = form.hasAttribute("data-readonly");
  var post = data.post;
  var state = { id: post ? post.id : null, version: post ? post.version : null };
  var media = (data.media || []).slice();
  var originalVariants = {};
  (post ? post.variants : []).forEach(function (v) { originalVariants[v.channel_id] = v; });

  var $ = function (sel, root) { return (root || document).querySelector(sel); };
  var $$ = function (sel, root) { return Array.prototype.slice.call((root || document).querySelectorAll(sel)); };
  var tablist = $("[data-tablist]");

  function checkedChannels() {
    return $$('input[name="channel"]:checked', form).map(function (el) { return el.value; });
  }
  function channelInfo(id) {
    return data.channels.filter(function (c) { return c.id === id; })[0];
  }
  function variantText(id) {
    var area = $('[data-variant-text="' + id + '"]');
    return area && area.value !== "" ? area.value : null;
  }
  function mediaRefs() {
    return media.map(function (m) { return { media_id: m.media_id, alt: m.alt || "" }; });
  }
  // A copy as the server stores it (PUT replaces the whole copy): what was loaded
  // (its own media, link and time), with the text from its tab.
  function variantBody(id) {
    var before = originalVariants[id] || {};
    var out = { text: variantText(id) };
    if (before.media) out.media = before.media.map(function (m) { return { media_id: m.media_id, alt: m.alt || "" }; });
    if (before.link) out.link = before.link;
    if (before.local_at) { out.local_at = before.local_at; out.fold = before.fold || 0; }
    return out;
  }

  // -- tabs: one per chosen channel ----------------------------------------------------
  var activeTab = null;
  function selectTab(id, focus) {
    activeTab = id;
    $$("[role=tab]", tablist).forEach(function (tab) {
      var on = tab.dataset.tab === id;
      tab.setAttribute("aria-selected", on ? "true" : "false");
      tab.tabIndex = on ? 0 : -1;
      if (on && focus) tab.focus();
    });
    $$("[data-panel]").forEach(function (panel) { panel.hidden = panel.dataset.panel !== id; });
  }
  function buildTabs() {
    var ids = checkedChannels();
    tablist.textContent = "";
    ids.forEach(function (id) {
      var info = channelInfo(id);
      var tab = document.createElement("button");
      tab.type = "button";
      tab.setAttribute("role", "tab");
      tab.id = "tab-" + id;
      tab.dataset.tab = id;
      tab.setAttribute("aria-controls", "panel-" + id);
      tab.className = "tab";
      var name = document.createElement("span");
      name.textContent = info.name;
      var count = document.createElement("span");
      count.className = "tab-count";
      count.dataset.tabCount = id;
      tab.appendChild(name);
      tab.appendChild(count);
      tab.addEventListener("click", function () { selectTab(id, false); });
      tablist.appendChild(tab);
    });
    if (!ids.length) {
      $$("[data-panel]").forEach(function (panel) { panel.hidden = true; });
      return;
    }
    selectTab(ids.indexOf(activeTab) >= 0 ? activeTab : ids[0], false);
  }
  tablist.addEventListener("keydown", function (event) {
    var ids = checkedChannels();
    var at = ids.indexOf(activeTab);
    var next = null;
    if (event.key === "ArrowRight") next = ids[(at + 1) % ids.length];
    else if (event.key === "ArrowLeft") next = ids[(at - 1 + ids.length) % ids.length];
    else if (event.key === "Home") next = ids[0];
    else if (event.key === "End") next = ids[ids.length - 1];
    if (next) { event.preventDefault(); selectTab(next, true); }
  });

  // -- live counters, notes, previews --------------------------------------------------
  var timer = null;
  var sequence = 0;
  function schedule() {
    updatePreviews();
    if (readonly) return;
    clearTimeout(timer);
    timer = setTimeout(validate, 150);
  }

  function validate() {
    var ids = checkedChannels();
    if (!ids.length) return;
    var link = $("#link").value.trim();
    var body = {
      body: $("#body").value,
      media: mediaRefs(),
      variants: ids.map(function (id) {
        var copy = variantBody(id);
        var check = { channel_id: id, text: copy.text };
        if (copy.media) check.media = copy.media;
        if (copy.link) check.link = copy.link;
        return check;
      })
    };
    if (link) body.link = link;
    var mine = ++sequence;
    api("POST", data.api + "/posts/validate", body).then(function (result) {
      if (mine !== sequence) return; // an older answer arriving late
      if (!result.ok) {
        ids.forEach(function (id) { setCounter(id, null, describe(result)); });
        return;
      }
      result.body.channels.forEach(function (check) { setCounter(check.channel_id, check); });
    });
  }

  function setCounter(id, check, failure) {
    var counter = $('[data-counter="' + id + '"]');
    var notes = $('[data-notes="' + id + '"]');
    var tabCount = $('[data-tab-count="' + id + '"]');
    if (!counter) return;
    notes.textContent = "";
    if (!check) {
      counter.textContent = failure;
      counter.classList.add("over");
      return;
    }
    var m = check.measure;
    var over = m && m.count > m.limit;
    if (m) {
      counter.textContent = m.count + " / " + m.limit + " " + m.unit + (over ? " — " + (m.count - m.limit) + " over the limit" : "");
      if (tabCount) tabCount.textContent = " " + m.count + "/" + m.limit;
    } else {
      counter.textContent = check.ok ? "Fits." : "Does not fit.";
    }
    counter.classList.toggle("over", !!over);
    counter.dataset.over = over ? "true" : "false";
    if (tabCount) tabCount.classList.toggle("over", !!over || !check.ok);
    check.verdicts.forEach(function (note) {
      var li = document.createElement("li");
      li.className = "note note-" + note.level;
      li.textContent = (note.level === "error" ? "Error: " : "Warning: ") + note.message;
      notes.appendChild(li);
    });
  }

  function updatePreviews() {
    var base = $("#body").value;
    var link = $("#link").value.trim();
    $$("[data-preview]").forEach(function (el) {
      var id = el.dataset.preview;
      var text = variantText(id);
      el.textContent = (text === null ? base : text) + (link && (text === null ? base : text).indexOf(link) < 0 ? "\n" + link : "");
      var box = $('[data-preview-media="' + id + '"]');
      box.textContent = "";
      media.forEach(function (m) {
        if (m.mime_type && m.mime_type.indexOf("image/") === 0) {
          var img = document.createElement("img");
          img.src = m.url;
          img.alt = m.alt || "";
          box.appendChild(img);
        } else {
          var span = document.createElement("span");
          span.className = "preview-file";
          span.textContent = m.filename || "video";
          box.appendChild(span);
        }
      });
    });
  }

  // -- media ----------------------------------------------------------------------------
  var mediaList = $("[data-media-list]");
  function renderMedia() {
    mediaList.textContent = "";
    media.forEach(function (m, index) {
      var li = document.createElement("li");
      li.className = "media-item";
      if (m.mime_type && m.mime_type.indexOf("image/") === 0) {
        var img = document.createElement("img");
        img.src = m.url;
        img.alt = "";
        li.appendChild(img);
      }
      var field = document.createElement("div");
      field.className = "field";
      var label = document.createElement("label");
      label.htmlFor = "alt-" + index;
      label.textContent = "Alt text for " + (m.filename || "this file");
      var input = document.createElement("input");
      input.id = "alt-" + index;
      input.maxLength = 1500;
      input.value = m.alt || "";
      input.disabled = readonly;
      input.addEventListener("input", function () { m.alt = input.value; schedule(); });
      field.appendChild(label);
      field.appendChild(input);
      li.appendChild(field);
      if (!readonly) {
        var remove = document.createElement("button");
        remove.type = "button";
        remove.className = "button button-quiet button-small";
        remove.textContent = "Remove " + (m.filename || "file");
        remove.addEventListener("click", function () { media.splice(index, 1); renderMedia(); schedule(); });
        li.appendChild(remove);
      }
      mediaList.appendChild(li);
    });
  }
  var fileInput = $("#media-file");
  if (fileInput) {
    fileInput.addEventListener("change", function () {
      var file = fileInput.files && fileInput.files[0];
      var error = $("[data-media-error]");
      error.hidden = true;
      if (!file) return;
      var body = new FormData();
      body.append("file", file);
      api("POST", data.api + "/media", body).then(function (result) {
        fileInput.value = "";
        if (!result.ok) { error.textContent = describe(result); error.hidden = false; return; }
        var m = result.body;
        media.push({ media_id: m.id, alt: m.alt || "", url: m.url, filename: m.filename, mime_type: m.mime_type });
        renderMedia();
        schedule();
        var alt = $("#alt-" + (media.length - 1));
        if (alt) alt.focus();
      });
    });
  }

  // -- saving ---------------------------------------------------------------------------
  var saveError = $("[data-save-error]");
  var saveStatus = $("[data-save-status]");
  var conflict = $("[data-conflict]");

  // A wall time that happens twice (clocks going back) needs its occurrence: the one
  // loaded while the date, time and zone are unchanged, else the one picked here.
  var foldField = $("[data-fold-field]");
  var foldSelect = $("#fold");
  function askOccurrence() {
    if (!foldField || !foldField.hidden) return;
    foldField.hidden = false;
  }
  function isAmbiguityError(result) {
    return ((result.body && result.body.errors) || []).some(function (e) {
      return /happens twice/.test(e.message || "");
    });
  }

  function fields() {
    var day = $("#local-date").value;
    var time = $("#local-time").value || "09:00";
    var link = $("#link").value.trim();
    var plan = $("#plan").value;
    var zoneName = $("#timezone").value.trim() || null;
    var localAt = day ? day + "T" + (time.length === 5 ? time + ":00" : time) : null;
    var fold = null;
    if (foldField && !foldField.hidden) {
      fold = parseInt(foldSelect.value, 10);
    } else if (post && post.local_at && localAt && post.local_at.slice(0, 16) === localAt.slice(0, 16) &&
               (zoneName === null || zoneName === post.timezone)) {
      localAt = post.local_at; // the wall time as loaded (seconds included)
      fold = post.fold || 0;
    }
    var out = {
      title: $("#title").value,
      body: $("#body").value,
      link: link || null,
      labels: $$('input[name="label"]:checked', form).map(function (el) { return el.value; }),
      plan_id: plan || null,
      media: mediaRefs(),
      timezone: zoneName,
      local_at: localAt
    };
    if (localAt && fold !== null) out.fold = fold;
    return out;
  }

  function fail(result) {
    if (result.status === 412) return showConflict(result);
    if (result.status === 422 && isAmbiguityError(result)) askOccurrence();
    saveError.textContent = describe(result);
    saveError.hidden = false;
    saveError.focus();
    saveStatus.textContent = "";
  }

  function afterWrite(result) {
    if (result.ok && result.body && result.body.version) {
      state.version = result.body.version;
      var shown = $("[data-post-version]");
      if (shown) shown.textContent = state.version;
    }
    return result;
  }

  function ifMatch() { return { "If-Match": 'W/"' + state.version + '"' }; }

  // Variants one after another, each with the version the previous write returned.
  function saveVariants(chosen) {
    var steps = [];
    chosen.forEach(function (id) {
      var text = variantText(id);
      var before = originalVariants[id];
      if (!before || (before.text === null ? null : before.text) !== text || (before.text === null && text !== null)) {
        steps.push(function () { return api("PUT", data.api + "/posts/" + state.id + "/variants/" + id, variantBody(id), ifMatch()); });
      }
    });
    Object.keys(originalVariants).forEach(function (id) {
      if (chosen.indexOf(id) < 0) {
        steps.push(function () { return api("DELETE", data.api + "/posts/" + state.id + "/variants/" + id, undefined, ifMatch()); });
      }
    });
    return steps.reduce(function (chain, step) {
      return chain.then(function (previous) {
        if (previous && !previous.ok) return previous;
        return step().then(afterWrite);
      });
    }, Promise.resolve(null));
  }

  function save() {
    saveError.hidden = true;
    conflict.hidden = true;
    saveStatus.textContent = "Saving…";
    var chosen = checkedChannels();
    var body = fields();
    var first;
    if (!state.id) {
      var create = Object.assign({}, body, { channels: chosen, status: body.local_at ? "draft" : "idea" });
      if (!create.link) delete create.link;
      if (!create.plan_id) delete create.plan_id;
      if (!create.timezone) delete create.timezone;
      if (!create.local_at) delete create.local_at;
      first = api("POST", data.api + "/posts", create).then(function (result) {
        if (result.ok) {
          state.id = result.body.id;
          state.version = result.body.version;
          result.body.variants.forEach(function (v) { originalVariants[v.channel_id] = { text: null }; });
          window.history.replaceState(null, "", data.base + "/posts/" + state.id);
        }
        return result;
      });
    } else {
      var patch = Object.assign({}, body);
      if (!patch.timezone) delete patch.timezone;
      first = api("PATCH", data.api + "/posts/" + state.id, patch, ifMatch()).then(afterWrite);
    }
    return first.then(function (result) {
      if (!result.ok) return fail(result);
      return saveVariants(chosen).then(function (last) {
        if (last && !last.ok) return fail(last);
        saveStatus.textContent = "Saved.";
        window.location.assign(data.base + "/posts/" + state.id + "?saved=1");
      });
    });
  }

  // Who changed what since the version this page read (from the revisions API).
  function showConflict(result) {
    saveStatus.textContent = "";
    var current = null;
    ((result.body && result.body.errors) || []).forEach(function (e) { if (e.current_version) current = e.current_version; });
    $("[data-conflict-text]").textContent = describe(result);
    var list = $("[data-conflict-list]");
    list.textContent = "";
    conflict.hidden = false;
    conflict.dataset.current = current || "";
    api("GET", data.api + "/posts/" + state.id + "/revisions").then(function (revs) {
      if (!revs.ok) return;
      revs.body.filter(function (r) { return r.version > state.version; }).forEach(function (r) {
        var li = document.createElement("li");
        var who = data.names[r.author_id] || "Someone";
        var when = new Date(r.created_at).toLocaleString();
        li.textContent = who + " changed " + (r.changed.length ? r.changed.join(", ") : r.action) + " (version " + r.version + ", " + when + ")";
        list.appendChild(li);
      });
    });
    conflict.focus();
  }

  if (!readonly) {
    form.addEventListener("submit", function (event) { event.preventDefault(); save(); });
    $("[data-reload]").addEventListener("click", function () { window.location.reload(); });
    $("[data-keep-mine]").addEventListener("click", function () {
      var current = parseInt(conflict.dataset.current, 10);
      if (current) state.version = current;
      save();
    });
  }

  form.addEventListener("input", schedule);
  form.addEventListener("change", function (event) {
    if (event.target.name === "channel") buildTabs();
    schedule();
  });

  renderMedia();
  buildTabs();
  updatePreviews();
  if (!readonly) validate();
  var saved = new URLSearchParams(window.location.search).get("saved");
  if (saved && saveStatus) saveStatus.textContent = "Saved.";
})();
