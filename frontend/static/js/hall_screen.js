/* The big screen in the hall: poll the session's state every second and redraw it.
   The server draws the first paint (hall_screen.html); this redraws the same markup from
   GET /api/v1/voting-sessions/{id}/hall. On a network error the last screen stays up, a small
   notice says so, and polling goes on until the server answers again. */
(function () {
  "use strict";

  var PERIOD = 1000; // ms between polls: the counts must show within 2 s of the close
  var TIMEOUT = 4000; // a request that hangs longer is abandoned and retried
  var MAX_BACKOFF = 5000;

  function byId(id) { return document.getElementById(id); }
  function readJson(id) {
    var el = byId(id);
    if (!el) { return null; }
    try { return JSON.parse(el.textContent); } catch (e) { return null; }
  }

  var boot = readJson("hall-boot");
  if (!boot) { return; }
  var words = boot.words || {};
  var en = boot.lang === "en";

  function t(key, params) {
    var text = words[key] || key;
    if (params) {
      Object.keys(params).forEach(function (k) {
        text = text.split("{" + k + "}").join(String(params[k]));
      });
    }
    return text;
  }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") { node.textContent = attrs[k]; } else { node.setAttribute(k, attrs[k]); }
    });
    (children || []).forEach(function (c) { if (c) { node.appendChild(c); } });
    return node;
  }

  function grouped(n) { return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ","); }

  function money(yuan) {
    var parts = (yuan / 10000).toFixed(2).split(".");
    var wan = grouped(parts[0]) + ("." + parts[1]).replace(/\.?0+$/, "");
    return t("hall.money", { wan: wan, yuan: grouped(yuan) });
  }

  function tile(label, num, id, extra) {
    var cls = "tile" + (extra ? " " + extra : "");
    return el("div", { "class": cls }, [
      el("p", { "class": "tile-label", text: label }),
      el("p", { "class": "tile-num", id: id, text: String(num) })
    ]);
  }

  function title(s) { return en && s.title_en ? s.title_en : s.title; }

  function names(s) {
    var out = {};
    s.candidates.forEach(function (r) { out[r.project_id] = en && r.title_en ? r.title_en : r.title; });
    return out;
  }

  function listNames(ids, byId_) {
    return ids.filter(function (p) { return byId_[p] !== undefined; })
      .map(function (p) { return byId_[p]; }).join(en ? ", " : "、");
  }

  // 应到 / 实到 / 缺席 / 投票, the invalid ballots, and 实到 at opening where it differs.
  function opening(s) {
    return s.present_at_opening !== null && s.present_at_opening !== s.present
      ? t("hall.turnout.opening", { n: s.present_at_opening }) : "";
  }

  function turnout(s) {
    var line = t("hall.turnout", { seated: s.seated, present: s.present, absent: s.absent, voted: s.voted });
    if (s.invalid) { line += t("hall.turnout.invalid", { n: s.invalid }); }
    return line + opening(s);
  }

  function paperLine(s) {
    if (!s.paper) { return null; }
    return el("p", { "class": "hall-line", text: t("hall.paper", s.paper) });
  }

  function drawDraft(s, body) {
    var quorum = tile(t("hall.quorum"), s.quorum ? s.quorum_required : "–", "n-quorum");
    quorum.appendChild(el("p", {
      "class": "tile-note",
      text: s.quorum ? t("hall.quorum.share", { q: en ? s.quorum : s.quorum_words }) : t("hall.quorum.none")
    }));
    body.appendChild(el("section", { "class": "hall-tiles", "aria-label": t("hall.state.draft") }, [
      tile(t("hall.seated"), s.seated, "n-seated"),
      tile(t("hall.present"), s.present, "n-present"),
      quorum
    ]));
    body.appendChild(el("p", {
      id: "quorum-line",
      "class": "quorum-line " + (s.quorum_met ? "met" : "not-met"),
      text: s.quorum_met ? t("hall.quorum.met") : t("hall.quorum.not_met")
    }));
  }

  function drawOpen(s, body) {
    body.appendChild(el("section", { "class": "hall-tiles hall-live", "aria-label": t("hall.state.open") }, [
      tile(t("hall.cast"), s.voted, "n-cast", "tile-cast"),
      tile(t("hall.not_cast"), s.not_cast, "n-not-cast")
    ]));
    body.appendChild(el("p", {
      "class": "hall-line", id: "turnout-line",
      text: t("hall.seated") + " " + s.seated + " · " + t("hall.present") + " " + s.present +
        " · " + t("hall.absent") + " " + s.absent + opening(s)
    }));
    body.appendChild(paperLine(s) || document.createTextNode(""));
  }

  function outcome(r) {
    var cell = el("td", { "class": "c-outcome" });
    if (r.grade) {
      cell.textContent = t("hall.grade." + r.grade);
    } else if (r.passed) {
      cell.appendChild(el("span", { "class": "mark-passed", text: t("hall.passed") }));
      if (r.pending || r.selected) {
        cell.appendChild(document.createTextNode(" "));
        cell.appendChild(r.pending
          ? el("span", { "class": "mark-pending", text: t("hall.pending") })
          : el("span", { "class": "mark-selected", text: t("hall.selected") }));
      }
    } else {
      cell.appendChild(el("span", { "class": "mark-out", text: t("hall.not_passed") }));
    }
    return cell;
  }

  function drawCounts(s, body) {
    var byId_ = names(s);
    var head = el("tr", {}, [
      el("th", { scope: "col", "class": "c-rank", text: t("hall.col.rank") }),
      el("th", { scope: "col", "class": "c-title", text: t("hall.col.title") }),
      el("th", { scope: "col", "class": "c-budget", text: t("hall.col.budget") })
    ]);
    s.choices.forEach(function (c) {
      head.appendChild(el("th", { scope: "col", "class": "c-num c-" + c, text: t("hall.col." + c) }));
    });
    if (s.invalid) {
      head.appendChild(el("th", { scope: "col", "class": "c-num c-invalid", text: t("hall.col.invalid") }));
    }
    head.appendChild(el("th", { scope: "col", "class": "c-num c-not-voted", text: t("hall.col.not_voted") }));
    head.appendChild(el("th", { scope: "col", "class": "c-outcome", text: t("hall.col.outcome") }));
    var rows = el("tbody");
    s.candidates.forEach(function (r, i) {
      var cls = r.selected ? "is-selected" : (r.passed ? "is-passed" : "is-out");
      var tr = el("tr", { "data-project": String(r.project_id), "class": cls }, [
        el("td", { "class": "c-rank", text: String(r.rank !== null ? r.rank : i + 1) }),
        el("th", { scope: "row", "class": "c-title", text: byId_[r.project_id] }),
        el("td", { "class": "c-budget", text: money(r.budget) })
      ]);
      s.choices.forEach(function (c) {
        tr.appendChild(el("td", { "class": "c-num c-" + c, text: String(r.counts[c]) }));
      });
      if (s.invalid) { tr.appendChild(el("td", { "class": "c-num c-invalid", text: String(s.invalid) })); }
      tr.appendChild(el("td", { "class": "c-num c-not-voted", text: String(r.not_voted) }));
      tr.appendChild(outcome(r));
      rows.appendChild(tr);
    });
    body.appendChild(el("table", {
      "class": "hall-table", id: "hall-table", style: "--n: " + s.candidates.length
    }, [el("thead", {}, [head]), rows]));

    var line = turnout(s);
    if (s.threshold_votes !== null) { line += " · " + t("hall.threshold", { n: s.threshold_votes }); }
    if (s.budget_cap) {
      line += " · " + t("hall.budget", { used: money(s.budget_used), cap: money(s.budget_cap) });
    }
    var foot = el("div", { "class": "hall-foot", id: "hall-foot" }, [el("p", { text: line })]);
    if (s.rule) {
      foot.appendChild(el("p", { "class": "hall-rule", id: "hall-rule", text: en && s.rule_en ? s.rule_en : s.rule }));
    }
    if (s.paper) { foot.appendChild(el("p", { text: t("hall.paper", s.paper) })); }
    s.ties.forEach(function (tie) {
      foot.appendChild(el("p", {
        "class": "hall-tie",
        text: t("hall.tie", { n: tie.votes_for, names: listNames(tie.project_ids, byId_), how: en ? tie.text_en : tie.text })
      }));
    });
    if (s.cut_tie && s.cut_tie.pending) {
      foot.appendChild(el("p", {
        "class": "hall-tie",
        text: t("hall.cut_tie.pending", { n: s.cut_tie.votes_for, names: listNames(s.cut_tie.project_ids, byId_) })
      }));
    }
    s.rounds.forEach(function (r, i) {
      foot.appendChild(el("p", {
        "class": "hall-round",
        text: t("hall.round", { n: i + 2, places: r.places, names: listNames(r.selected, byId_) })
      }));
    });
    body.appendChild(foot);
  }

  function draw(s) {
    var main = byId("hall");
    var body = byId("hall-body");
    var fresh = el("div", { id: "hall-body", "class": "hall-body" });
    if (s.state === "draft") {
      drawDraft(s, fresh);
    } else if (s.state === "open") {
      drawOpen(s, fresh);
    } else if (!s.counted) {
      fresh.appendChild(el("p", {
        "class": "hall-line", id: "turnout-line",
        text: turnout(s)
      }));
      fresh.appendChild(el("p", { "class": "quorum-line", text: t("hall.counts_later") }));
    } else if (s.void && s.paper) {
      fresh.appendChild(el("p", {
        "class": "quorum-line not-met", id: "void-line",
        text: t("results.void", { collected: s.paper.collected, issued: s.paper.issued })
      }));
      fresh.appendChild(el("p", {
        "class": "hall-line", id: "turnout-line",
        text: turnout(s)
      }));
    } else {
      drawCounts(s, fresh);
    }
    body.parentNode.replaceChild(fresh, body);
    main.setAttribute("data-state", s.state);
    byId("hall-title").textContent = title(s);
    byId("hall-badge").textContent = t("hall.state." + s.state);
    document.title = title(s) + " · " + t("hall.state." + s.state);
  }

  var shown = JSON.stringify(readJson("hall-state"));
  var backoff = PERIOD;
  var offline = byId("hall-offline");

  function schedule(ms) { window.setTimeout(poll, ms); }

  function poll() {
    var ctrl = typeof AbortController === "function" ? new AbortController() : null;
    var timer = ctrl ? window.setTimeout(function () { ctrl.abort(); }, TIMEOUT) : 0;
    fetch(boot.url, { cache: "no-store", credentials: "omit", signal: ctrl ? ctrl.signal : undefined })
      .then(function (r) {
        if (!r.ok) { throw new Error("HTTP " + r.status); }
        return r.json();
      })
      .then(function (s) {
        window.clearTimeout(timer);
        offline.hidden = true;
        backoff = PERIOD;
        var text = JSON.stringify(s);
        if (text !== shown) {
          draw(s);
          shown = text;
        }
        schedule(PERIOD);
      })
      .catch(function () {
        // Keep the last screen: the hall must never see a blank projector.
        window.clearTimeout(timer);
        offline.hidden = false;
        schedule(backoff);
        backoff = Math.min(backoff * 2, MAX_BACKOFF);
      });
  }

  schedule(PERIOD);
}());
