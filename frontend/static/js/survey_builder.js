// The questionnaire builder: edits the JSON definition held in the form's #definition field
// (the same question shape the API takes) and asks the server to draw the preview with the
// resident form's own template. Without this script the page still shows the definition as
// JSON to edit and save, and the server names every error.
(function () {
  "use strict";
  var form = document.getElementById("builder-form");
  var root = document.getElementById("builder");
  var field = document.getElementById("definition");
  var preview = document.getElementById("preview");
  if (!form || !root || !field || !preview) return;

  var words = JSON.parse(form.dataset.labels || "{}");
  var typeNames = JSON.parse(form.dataset.typeNames || "{}");
  var opNames = JSON.parse(form.dataset.opNames || "{}");
  var types = JSON.parse(form.dataset.types || "[]");
  // Errors from the last save, by question index; dropped once the questions move.
  var errors = JSON.parse(form.dataset.errors || "{}");
  var csrf = (form.querySelector("input[name=csrf_token]") || {}).value || "";
  var NUMERIC = ["rating", "nps", "number"];
  var CHOICE = ["single_choice", "multi_choice"];
  var questions;

  try {
    var parsed = JSON.parse(field.value || "{}");
    questions = Array.isArray(parsed) ? parsed : parsed.questions || [];
  } catch (e) {
    return; // unreadable JSON stays in the text box, where the server's error points
  }
  if (!Array.isArray(questions)) return;

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") node.textContent = attrs[k];
      else if (k === "className") node.className = attrs[k];
      else node.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) { if (c) node.appendChild(c); });
    return node;
  }

  function labelled(text, input, extraClass) {
    return el("label", { className: extraClass || "" }, [document.createTextNode(text), input]);
  }

  function freshKey() {
    var used = {};
    questions.forEach(function (q) { used[q.key] = true; });
    for (var n = questions.length + 1; ; n++) if (!used["q" + n]) return "q" + n;
  }

  function blank(type) {
    var q = { key: freshKey(), type: type, label: "", label_en: "", required: false };
    if (CHOICE.indexOf(type) >= 0) q.options = [{ value: "a", label: "", label_en: "" }];
    if (type === "rating") { q.scale_min = 1; q.scale_max = 5; }
    return q;
  }

  // Keep only what applies to the question's type, so the definition stays valid as types change.
  function tidy(q) {
    if (CHOICE.indexOf(q.type) < 0) delete q.options;
    else if (!q.options || !q.options.length) q.options = [{ value: "a", label: "", label_en: "" }];
    if (q.type !== "rating" && q.type !== "nps") delete q.dimension;
    if (q.type === "nps") { delete q.scale_min; delete q.scale_max; }
    if (q.type !== "rating" && q.type !== "number") { delete q.scale_min; delete q.scale_max; }
    if (!q.dimension) delete q.dimension;
    if (!q.show_if) delete q.show_if;
  }

  function conditionValue(q, text) {
    var target = questions.filter(function (o) { return o.key === q.show_if.key; })[0];
    var numeric = target && NUMERIC.indexOf(target.type) >= 0;
    var parts = q.show_if.op === "in" ? text.split(",") : [text];
    var values = parts.map(function (p) { return p.trim(); }).filter(function (p) { return p !== ""; });
    if (numeric) values = values.map(function (v) { return isNaN(Number(v)) ? v : Number(v); });
    return q.show_if.op === "in" ? values : values.length ? values[0] : "";
  }

  function conditionText(cond) {
    if (cond.value == null) return "";
    return Array.isArray(cond.value) ? cond.value.join(", ") : String(cond.value);
  }

  var timer = null;
  function changed(redraw) {
    questions.forEach(tidy);
    field.value = JSON.stringify({ questions: questions }, null, 2);
    if (redraw) draw();
    clearTimeout(timer);
    timer = setTimeout(refreshPreview, 250);
  }

  function refreshPreview() {
    var body = new URLSearchParams();
    body.set("definition", field.value);
    fetch(form.dataset.preview, {
      method: "POST",
      body: body,
      credentials: "same-origin",
      headers: { "X-CSRF-Token": csrf },
    }).then(function (r) {
      return r.ok ? r.text() : null;
    }).then(function (html) {
      if (html !== null) preview.innerHTML = html;
    }).catch(function () { /* the last preview stays; saving is unaffected */ });
  }

  function textInput(q, name, attrs) {
    var input = el("input", Object.assign({ name: "b-" + name, value: q[name] == null ? "" : q[name] }, attrs || {}));
    input.addEventListener("input", function () {
      if (attrs && attrs.type === "number") q[name] = input.value === "" ? null : Number(input.value);
      else q[name] = input.value;
      if (q[name] === null) delete q[name];
      changed(false);
    });
    return input;
  }

  function optionRows(q) {
    var list = el("ol", { className: "options-edit" });
    q.options.forEach(function (o, j) {
      function optInput(name, label) {
        var input = el("input", { value: o[name] || "", "aria-label": label, "data-option": name });
        input.addEventListener("input", function () { o[name] = input.value; changed(false); });
        return labelled(label, input);
      }
      var remove = el("button", { type: "button", text: words.remove_option, className: "small" });
      remove.addEventListener("click", function () { q.options.splice(j, 1); changed(true); });
      list.appendChild(el("li", { className: "option-row" }, [
        optInput("value", words.value), optInput("label", words.label), optInput("label_en", words.label_en),
        q.options.length > 1 ? remove : null,
      ]));
    });
    var add = el("button", { type: "button", text: words.add_option, className: "add-option" });
    add.addEventListener("click", function () {
      q.options.push({ value: String.fromCharCode(97 + (q.options.length % 26)) + (q.options.length >= 26 ? q.options.length : ""), label: "", label_en: "" });
      changed(true);
    });
    return el("fieldset", { className: "options" }, [el("legend", { text: words.options }), list, add]);
  }

  function conditionBlock(q, i) {
    var earlier = questions.slice(0, i);
    var box = el("fieldset", { className: "condition" }, [el("legend", { text: words.condition })]);
    if (!earlier.length && !q.show_if) {
      box.appendChild(el("p", { className: "muted", text: words.no_earlier }));
      return box;
    }
    var toggle = el("input", { type: "checkbox", className: "cond-toggle" });
    toggle.checked = !!q.show_if;
    toggle.addEventListener("change", function () {
      if (toggle.checked && earlier.length) q.show_if = { key: earlier[earlier.length - 1].key, op: "eq", value: "" };
      else delete q.show_if;
      changed(true);
    });
    box.appendChild(labelled(words.show_if, toggle, "check"));
    if (!q.show_if) return box;
    var keySel = el("select", { className: "cond-key" });
    earlier.forEach(function (o) {
      var opt = el("option", { value: o.key, text: o.key + " · " + (o.label || "") });
      if (o.key === q.show_if.key) opt.selected = true;
      keySel.appendChild(opt);
    });
    keySel.addEventListener("change", function () { q.show_if.key = keySel.value; changed(true); });
    var opSel = el("select", { className: "cond-op" });
    Object.keys(opNames).forEach(function (op) {
      var opt = el("option", { value: op, text: opNames[op] });
      if (op === q.show_if.op) opt.selected = true;
      opSel.appendChild(opt);
    });
    opSel.addEventListener("change", function () {
      q.show_if.op = opSel.value;
      q.show_if.value = conditionValue(q, valueIn.value);
      changed(false);
    });
    var target = earlier.filter(function (o) { return o.key === q.show_if.key; })[0];
    var valueIn;
    if (target && target.options && q.show_if.op !== "in") {
      valueIn = el("select", { className: "cond-value" });
      valueIn.appendChild(el("option", { value: "", text: "" }));
      target.options.forEach(function (o) {
        var opt = el("option", { value: o.value, text: o.value + " · " + (o.label || "") });
        if (o.value === q.show_if.value) opt.selected = true;
        valueIn.appendChild(opt);
      });
    } else {
      valueIn = el("input", { className: "cond-value", value: conditionText(q.show_if) });
    }
    valueIn.addEventListener(valueIn.tagName === "SELECT" ? "change" : "input", function () {
      q.show_if.value = conditionValue(q, valueIn.value);
      changed(false);
    });
    box.appendChild(el("div", { className: "cond-row" }, [
      labelled(words.when, keySel), labelled(words.op, opSel), labelled(words.cond_value, valueIn),
    ]));
    box.appendChild(el("p", { className: "muted small", text: words.cond_hint }));
    return box;
  }

  function move(i, to) {
    var q = questions.splice(i, 1)[0];
    questions.splice(to, 0, q);
    errors = {};
    changed(true);
    var card = document.getElementById("bq-" + to);
    var button = card && card.querySelector(to < i ? ".move-up" : ".move-down");
    (button && !button.disabled ? button : card).focus();
  }

  function card(q, i) {
    var err = errors["question-" + i];
    var typeSel = el("select", { name: "b-type", className: "q-type" });
    types.forEach(function (t) {
      var opt = el("option", { value: t, text: typeNames[t] || t });
      if (t === q.type) opt.selected = true;
      typeSel.appendChild(opt);
    });
    typeSel.addEventListener("change", function () {
      q.type = typeSel.value;
      if (q.type === "rating") { q.scale_min = 1; q.scale_max = 5; }
      changed(true);
    });
    var required = el("input", { type: "checkbox", name: "b-required" });
    required.checked = !!q.required;
    required.addEventListener("change", function () { q.required = required.checked; changed(false); });

    var up = el("button", { type: "button", className: "move-up", text: "↑ " + words.up });
    up.disabled = i === 0;
    up.addEventListener("click", function () { move(i, i - 1); });
    var down = el("button", { type: "button", className: "move-down", text: "↓ " + words.down });
    down.disabled = i === questions.length - 1;
    down.addEventListener("click", function () { move(i, i + 1); });
    var del = el("button", { type: "button", className: "delete", text: words.delete });
    del.addEventListener("click", function () { questions.splice(i, 1); errors = {}; changed(true); });

    var fields = [
      labelled(words.type, typeSel),
      labelled(words.key, textInput(q, "key", { maxlength: "64", spellcheck: "false", autocomplete: "off" })),
      labelled(words.label, textInput(q, "label", { maxlength: "500" }), "bq-wide"),
      labelled(words.label_en, textInput(q, "label_en", { maxlength: "500", lang: "en" }), "bq-wide"),
    ];
    if (q.type === "rating" || q.type === "nps") {
      fields.push(labelled(words.dimension, textInput(q, "dimension", { maxlength: "64", spellcheck: "false" })));
    }
    if (q.type === "rating") {
      fields.push(labelled(words.scale_min, textInput(q, "scale_min", { type: "number", min: "0", max: "10", step: "1" })));
      fields.push(labelled(words.scale_max, textInput(q, "scale_max", { type: "number", min: "0", max: "10", step: "1" })));
    }
    if (q.type === "number") {
      fields.push(labelled(words.min, textInput(q, "scale_min", { type: "number", step: "1" })));
      fields.push(labelled(words.max, textInput(q, "scale_max", { type: "number", step: "1" })));
    }
    fields.push(labelled(words.required, required, "check"));

    var attrs = { className: "bq card" + (err ? " has-error" : ""), id: "bq-" + i, tabindex: "-1", "data-key": q.key || "" };
    if (err) attrs["aria-describedby"] = "err-question-" + i;
    return el("li", attrs, [
      el("div", { className: "bq-head" }, [
        el("h3", { text: words.question.replace("{n}", i + 1) }),
        el("div", { className: "bq-tools" }, [up, down, del]),
      ]),
      err ? el("p", { className: "field-error", id: "err-question-" + i, role: "alert", text: err }) : null,
      el("div", { className: "bq-fields" }, fields),
      CHOICE.indexOf(q.type) >= 0 ? optionRows(q) : null,
      conditionBlock(q, i),
    ]);
  }

  function draw() {
    root.textContent = "";
    var list = el("ol", { className: "bq-list" });
    questions.forEach(function (q, i) { list.appendChild(card(q, i)); });
    root.appendChild(list);
    var addType = el("select", { id: "add-type" });
    types.forEach(function (t) { addType.appendChild(el("option", { value: t, text: typeNames[t] || t })); });
    var add = el("button", { type: "button", id: "add-question", text: "+ " + words.add });
    add.addEventListener("click", function () {
      questions.push(blank(addType.value));
      changed(true);
      var last = document.getElementById("bq-" + (questions.length - 1));
      var first = last && last.querySelector("input[name=b-label]");
      if (first) first.focus();
    });
    root.appendChild(el("div", { className: "bq-add" }, [labelled(words.add_type, addType), add]));
  }

  var outline = document.getElementById("outline");
  if (outline) outline.remove();
  root.hidden = false;
  var details = form.querySelector(".json-edit");
  if (details) details.open = false;
  // A hand edit of the JSON box is taken over when it reads.
  field.addEventListener("change", function () {
    try {
      var p = JSON.parse(field.value);
      var qs = Array.isArray(p) ? p : p.questions;
      if (Array.isArray(qs)) { questions = qs; errors = {}; changed(true); }
    } catch (e) { /* left for the server to name */ }
  });
  draw();
  var firstError = root.querySelector(".bq.has-error");
  if (firstError) firstError.scrollIntoView({ block: "center" });
})();
