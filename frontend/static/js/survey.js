/* The survey page without a page reload, and without losing an answer.
 * - Questions with a condition are shown only when it holds.
 * - What the resident types is kept in localStorage while the page is open (a draft).
 * - On submit the response is saved in localStorage first, then posted as JSON; a failed
 *   network, a 5xx or a 429 keeps it there and retries it (same submission_id, so the server
 *   stores it once) with back-off, when the browser is back online and on the next visit.
 * Without this file the form posts as a plain HTML form and the server does all the same checks.
 */
(function () {
  "use strict";
  var PENDING = "minyi:pending";
  var store = window.localStorage;

  function load(key, fallback) {
    try { return JSON.parse(store.getItem(key)) || fallback; } catch (e) { return fallback; }
  }
  function save(key, value) {
    try { store.setItem(key, JSON.stringify(value)); } catch (e) { /* private mode: no storage */ }
  }
  function pending() { return load(PENDING, []); }
  function drop(submissionId) {
    save(PENDING, pending().filter(function (p) { return p.body.submission_id !== submissionId; }));
  }
  function keep(item) {
    var items = pending().filter(function (p) { return p.body.submission_id !== item.body.submission_id; });
    items.push(item);
    save(PENDING, items);
  }

  function post(item) {
    return fetch(item.api, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(item.body),
      credentials: "omit"
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (data) {
        return { status: r.status, data: data };
      });
    });
  }

  var timer = null;
  var delay = 2000;
  /* Send every kept response of this campaign; on a retryable failure try again later. */
  function flush(campaign, onSent) {
    var items = pending().filter(function (p) { return String(p.campaign) === String(campaign); });
    if (!items.length) { return; }
    items.forEach(function (item) {
      post(item).then(function (res) {
        if (res.status === 201 || res.status === 200 || (res.status >= 400 && res.status < 500 && res.status !== 429)) {
          drop(item.body.submission_id);
          if (onSent && res.status === 201) { onSent(item); }
        } else { later(campaign, onSent); }
      }, function () { later(campaign, onSent); });
    });
  }
  function later(campaign, onSent) {
    if (timer) { return; }
    timer = setTimeout(function () { timer = null; flush(campaign, onSent); }, delay);
    delay = Math.min(delay * 2, 30000);
  }

  function status(text) {
    var el = document.getElementById("survey-status");
    if (!el) { return; }
    el.textContent = text || "";
    el.hidden = !text;
  }

  /* ---------------------------------------------------------------- the form page */
  var form = document.getElementById("survey");
  var holder = form || document.getElementById("survey-pending");
  if (!holder) { return; }
  var campaign = holder.getAttribute("data-campaign");
  var api = holder.getAttribute("data-api");

  /* A kept response arrived: the one on this page leads to the thank-you page. */
  function sent(item) {
    var current = form && form.elements.submission_id && form.elements.submission_id.value;
    if (current && item.body.submission_id === current) {
      try { store.removeItem(draftKey); } catch (e) { /* ignore */ }
      window.location.assign(item.thanks);
    } else {
      status(holder.getAttribute("data-msg-resent"));
    }
  }
  var draftKey = form ? "minyi:draft:" + campaign + ":" + form.getAttribute("data-unit") : "";
  window.addEventListener("online", function () { delay = 2000; flush(campaign, sent); });
  flush(campaign, sent);
  if (!form) { return; }

  var msg = function (name) { return form.getAttribute("data-msg-" + name) || ""; };
  var questions = Array.prototype.slice.call(form.querySelectorAll("fieldset[data-key]"));

  function valuesOf(key) {
    var fields = form.querySelectorAll('[name="a.' + key + '"]');
    var out = [];
    Array.prototype.forEach.call(fields, function (f) {
      if ((f.type === "radio" || f.type === "checkbox") ? f.checked : f.value.trim() !== "") {
        out.push(f.value.trim());
      }
    });
    return out;
  }

  function holds(cond) {
    var got = valuesOf(cond.key);
    if (!got.length) { return false; }
    var q = form.querySelector('fieldset[data-key="' + cond.key + '"]');
    if (q && q.hidden) { return false; }
    var v = cond.value;
    var num = function (x) { return parseFloat(x); };
    switch (cond.op || "eq") {
      case "eq": return got.indexOf(String(v)) >= 0 || (got.length === 1 && num(got[0]) === v);
      case "ne": return got.indexOf(String(v)) < 0 && !(got.length === 1 && num(got[0]) === v);
      case "in": return got.some(function (g) { return v.map(String).indexOf(g) >= 0; });
      case "lt": return num(got[0]) < v;
      case "le": return num(got[0]) <= v;
      case "gt": return num(got[0]) > v;
      case "ge": return num(got[0]) >= v;
    }
    return true;
  }

  function applyConditions() {
    questions.forEach(function (q) {
      var raw = q.getAttribute("data-show-if");
      if (!raw) { return; }
      var shown = holds(JSON.parse(raw));
      q.hidden = !shown;
      Array.prototype.forEach.call(q.querySelectorAll("input, textarea, select"), function (f) {
        if (!shown && f.required) { f.required = false; f.setAttribute("data-required", "1"); }
        if (shown && f.getAttribute("data-required")) { f.required = true; }
      });
    });
    var hints = form.querySelectorAll(".cond");
    Array.prototype.forEach.call(hints, function (h) { h.hidden = true; });
  }

  function snapshot() {
    var out = {};
    Array.prototype.forEach.call(form.elements, function (f) {
      if (!f.name || f.type === "hidden") { return; }
      if (f.type === "radio" || f.type === "checkbox") {
        if (f.checked) { (out[f.name] = out[f.name] || []).push(f.value); }
      } else if (f.value) { out[f.name] = [f.value]; }
    });
    return out;
  }

  function restore(data) {
    Array.prototype.forEach.call(form.elements, function (f) {
      var v = data[f.name];
      // The invitation code comes from the page (the link or the code step), never a draft.
      if (!v || f.type === "hidden" || f.name === "invitation_code") { return; }
      if (f.type === "radio" || f.type === "checkbox") { f.checked = v.indexOf(f.value) >= 0; }
      else { f.value = v[0]; }
    });
  }

  var fresh = !form.querySelector(".has-error") && !form.querySelector("input:checked");
  if (fresh) { restore(load(draftKey, {})); }
  applyConditions();
  form.addEventListener("change", function () { applyConditions(); save(draftKey, snapshot()); });
  form.addEventListener("input", function () { save(draftKey, snapshot()); });

  function field(name) { var f = form.elements[name]; return f && f.value ? f.value : null; }

  function body() {
    var answers = {};
    questions.forEach(function (q) {
      if (q.hidden) { return; }
      var key = q.getAttribute("data-key");
      var got = valuesOf(key);
      if (!got.length) { return; }
      var multi = q.querySelector('input[type="checkbox"]');
      var numeric = q.querySelector('input[type="number"], .scale');
      answers[key] = multi ? got : (numeric ? Number(got[0]) : got[0]);
    });
    var profile = {};
    if (field("age_band")) { profile.age_band = field("age_band"); }
    if (field("sex")) { profile.sex = field("sex"); }
    return {
      unit_code: field("unit_code"),
      answers: answers,
      comment: field("comment"),
      invitation_code: field("invitation_code"),
      submission_id: field("submission_id"),
      area_code: field("area_code"),
      profile: Object.keys(profile).length ? profile : null,
      form_token: field("form_token")
    };
  }

  function clearErrors() {
    Array.prototype.forEach.call(form.querySelectorAll(".has-error"), function (q) {
      q.classList.remove("has-error");
    });
    Array.prototype.forEach.call(form.querySelectorAll(".field-error"), function (e) {
      e.hidden = true; e.textContent = "";
    });
  }

  function showErrors(detail) {
    var first = null;
    (Array.isArray(detail) ? detail : []).forEach(function (e) {
      var loc = (e.loc || []).filter(function (p) { return p !== "body"; });
      var id = loc[0] === "answers" ? loc[1] : loc[0];
      var box = document.getElementById("q-" + id) || document.getElementById("q-comment");
      var text = document.getElementById("err-" + id);
      var message = /required/.test(e.msg || "") ? msg("required") : msg("invalid");
      if (id === "invitation_code") { message = msg("code"); }
      if (box && text) {
        box.classList.add("has-error");
        text.textContent = message;
        text.hidden = false;
        first = first || box;
      }
    });
    status(msg("errors"));
    if (first) { first.scrollIntoView({ block: "center" }); }
  }

  var sending = false;
  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    if (sending) { return; }
    clearErrors();
    var item = { campaign: campaign, api: api, body: body(), thanks: form.getAttribute("data-thanks") };
    keep(item);
    sending = true;
    status(msg("sending"));
    var button = form.querySelector("button[type=submit]");
    if (button) { button.disabled = true; }
    var done = function () { sending = false; if (button) { button.disabled = false; } };
    post(item).then(function (res) {
      done();
      if (res.status === 201 || res.status === 200) {
        drop(item.body.submission_id);
        try { store.removeItem(draftKey); } catch (e) { /* ignore */ }
        window.location.assign(item.thanks);
      } else if (res.status === 422) {
        drop(item.body.submission_id);
        showErrors(res.data.detail);
      } else if (res.status === 409 || res.status === 410 || res.status === 404) {
        drop(item.body.submission_id);
        var used = res.status === 409 && /invitation/i.test(String(res.data.detail || ""));
        status(used ? msg("used") : msg("closed"));
      } else {
        status(msg("offline"));
        later(campaign, sent);
      }
    }, function () {
      done();
      status(msg("offline"));
      later(campaign, sent);
    });
  });
})();
