/* Dashboard: one campaign beside another (GET /api/v1/campaigns/{id}/comparison?with=...).
   The comparability verdict is shown above the table, always: scores from questionnaires
   that differ are not to be read side by side without it. Words come from the panel's
   data-s-* attributes (rendered in the page's language). */
(function () {
  "use strict";

  var panel = document.getElementById("compare");
  if (!panel) { return; }
  var form = document.getElementById("compare-form");
  var pick = document.getElementById("compare-with");
  var warn = document.getElementById("compare-warning");
  var table = document.getElementById("compare-table");
  var D = panel.dataset;

  function word(key) { return D["s" + key.charAt(0).toUpperCase() + key.slice(1)] || ""; }

  function fmt(v) { return v === null || v === undefined ? "—" : Number(v).toFixed(1); }

  function difference(d) {
    if (d.kind === "survey") { return word("diffSurvey"); }
    if (d.kind === "missing") { return word("diffMissing").replace("{key}", d.key); }
    return d.key + " · " + d.field + ": " + String(d.a) + " → " + String(d.b);
  }

  function showVerdict(block) {
    warn.textContent = "";
    var head = document.createElement("strong");
    head.textContent = block.comparable ? word("comparable") : word("notComparable");
    warn.appendChild(head);
    var items = block.differences.map(difference);
    block.notes.forEach(function (n) {
      items.push(n.kind === "version" ? word("noteVersion") : word("noteWeights"));
    });
    if (items.length) {
      var ul = document.createElement("ul");
      items.forEach(function (text) {
        var li = document.createElement("li");
        li.textContent = text;
        ul.appendChild(li);
      });
      warn.appendChild(ul);
    }
    warn.className = block.comparable ? "notice" : "notice warning";
    /* A warning must not look like the page's ordinary notes. */
    warn.style.background = block.comparable ? "" : "#fff3e0";
    warn.style.borderLeft = block.comparable ? "" : "4px solid #e65100";
    warn.setAttribute("data-comparable", block.comparable ? "true" : "false");
    warn.hidden = false;
  }

  function showRows(rows) {
    var body = table.querySelector("tbody");
    body.textContent = "";
    rows.forEach(function (r) {
      var tr = document.createElement("tr");
      [r.unit_name || r.unit_code, r.dimension, fmt(r.a && r.a.score), fmt(r.b && r.b.score)]
        .forEach(function (text) {
          var td = document.createElement("td");
          td.textContent = text;
          tr.appendChild(td);
        });
      body.appendChild(tr);
    });
    table.hidden = false;
  }

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var url = "/api/v1/campaigns/" + encodeURIComponent(D.campaign) + "/comparison?with=" +
      encodeURIComponent(pick.value);
    fetch(url, { credentials: "same-origin" })
      .then(function (r) { if (!r.ok) { throw new Error(String(r.status)); } return r.json(); })
      .then(function (out) { showVerdict(out.comparability); showRows(out.rows); })
      .catch(function () {
        warn.textContent = word("failed");
        warn.hidden = false;
        table.hidden = true;
      });
  });
}());
