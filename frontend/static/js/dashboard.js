/* Evaluator dashboard: fetches the figures' Plotly JSON (the first bundle is preloaded from
   the page head, so the server computes it while plotly.js loads), draws them, and refetches
   when a filter changes (Plotly.react, no page reload). No inline script: the page's settings
   come from the <script type="application/json" id="dash-boot"> block. */
(function () {
  "use strict";

  var bootEl = document.getElementById("dash-boot");
  if (!bootEl || typeof Plotly === "undefined") { return; }
  var boot = JSON.parse(bootEl.textContent);
  var S = boot.strings || {};
  var state = {
    campaign_id: boot.campaign_id,
    session_id: boot.session_id,
    lang: boot.lang,
    filters: Object.assign({}, boot.filters || {})
  };
  var CONFIG = { responsive: true, displaylogo: false, modeBarButtonsToRemove: ["select2d", "lasso2d"] };
  /* The chart toolbar in Chinese (plotly.js ships English only). */
  Plotly.register({
    moduleType: "locale",
    name: "zh-CN",
    dictionary: {
      "Download plot as a PNG": "下载图片（PNG）",
      "Download plot as a png": "下载图片（PNG）",
      "Download plot": "下载图片",
      "Zoom": "缩放",
      "Pan": "平移",
      "Zoom in": "放大",
      "Zoom out": "缩小",
      "Autoscale": "自动缩放",
      "Reset axes": "还原坐标轴",
      "Reset": "还原",
      "Toggle Spike Lines": "显示/隐藏参考线",
      "Show closest data on hover": "悬停显示最近数据",
      "Compare data on hover": "悬停对比数据",
      "Double-click to zoom back out": "双击还原",
      "Double-click on legend to isolate one trace": "双击图例只看这一项",
      "Click to enter Colorscale title": "",
      "Click to enter Plot title": ""
    },
    format: { decimal: ".", thousands: "," }
  });
  if (boot.lang === "zh-CN") { CONFIG.locale = "zh-CN"; }
  var UNIT_FIGURES = ["profile", "trends", "themes", "aspects", "aspect_trends"];
  var VOTE_FIGURES = ["vote", "tracker"];
  var statusEl = document.getElementById("dash-status");

  function $(id) { return document.getElementById(id); }

  function setStatus(text) { if (statusEl) { statusEl.textContent = text || ""; } }

  function plotDiv(name) { return document.querySelector('.plot[data-figure="' + name + '"]'); }

  // Below this width a chart is on a phone: plotly wraps its toolbar into rows that cover
  // the title, so a phone gets no toolbar (the tables download below each chart), and a
  // heatmap drops its colour bar (the cells print their numbers), whose margin left the
  // cells no room.
  var NARROW = 480;

  function fitToPhone(fig) {
    var layout = Object.assign({}, fig.layout);
    layout.margin = Object.assign({}, layout.margin);
    var data = (fig.data || []).map(function (t) {
      if (t.type !== "heatmap") { return t; }
      layout.margin.r = 16;
      return Object.assign({}, t, { showscale: false });
    });
    return { data: data, layout: layout, config: Object.assign({}, CONFIG, { displayModeBar: false }) };
  }

  function draw(name, fig) {
    var div = plotDiv(name);
    if (!div || !fig) { return Promise.resolve(); }
    var first = !div.classList.contains("js-plotly-plot");
    var shown = div.clientWidth < NARROW ? fitToPhone(fig) : { data: fig.data, layout: fig.layout, config: CONFIG };
    var p = (first ? Plotly.newPlot : Plotly.react)(div, shown.data, shown.layout, shown.config);
    return Promise.resolve(p).then(function () {
      if (first && name === "ranking") { div.on("plotly_click", onRankingClick); }
    });
  }

  function surveyParams(extra) {
    var p = new URLSearchParams();
    if (state.campaign_id !== null && state.campaign_id !== undefined) { p.set("campaign_id", state.campaign_id); }
    var f = state.filters;
    p.set("period", f.period || "month");
    if (f.area) { p.set("area", f.area); }
    if (f.unit_kind) { p.set("unit_kind", f.unit_kind); }
    if (f.weighted) { p.set("weighted", "true"); }
    if (f.include_flagged) { p.set("include_flagged", "true"); }
    if (f.unit_code) { p.set("unit_code", f.unit_code); }
    if (f.month) { p.set("month", f.month); }
    if (state.session_id) { p.set("session_id", state.session_id); }
    p.set("lang", state.lang);
    Object.keys(extra || {}).forEach(function (k) { p.set(k, extra[k]); });
    return p;
  }

  function getJSON(url) {
    /* Plain same-origin GET, so that the preloaded first bundle is reused. */
    return fetch(url, { credentials: "same-origin" })
      .then(function (r) {
        if (!r.ok) { throw new Error(r.status + " " + url); }
        return r.json();
      });
  }

  /* Refetch some figures (all when names is empty) with the current filters and redraw. */
  function refresh(names, url) {
    setStatus(S.loading);
    var params = surveyParams(names && names.length ? { names: names.join(",") } : {});
    return getJSON(url || "/api/v1/dashboard?" + params.toString())
      .then(function (bundle) {
        var jobs = Object.keys(bundle.figures).map(function (n) { return draw(n, bundle.figures[n]); });
        if (bundle.headline) { showHeadline(bundle.headline); }
        showComputedAt(bundle.computed_at);
        updateLinks();
        syncUrl();
        return Promise.all(jobs);
      })
      .then(function () { setStatus(""); })
      .catch(function () { setStatus(S.failed); });
  }

  function showHeadline(h) {
    var map = { "h-responses": h.responses_text, "h-areas": h.areas_text, "h-units": h.units_text,
                "h-overall": h.overall_text, "h-interval": h.interval_text };
    Object.keys(map).forEach(function (id) { var el = $(id); if (el) { el.textContent = map[id] || ""; } });
    showWarnings(h.warnings || []);
    showResponseRate(h);
  }

  /* Invitation campaigns only: codes used / issued, campaign-wide (codes have no area or month). */
  function showResponseRate(h) {
    var box = $("h-rate-box");
    if (!box) { return; }
    box.hidden = !h.response_rate_text;
    $("h-rate").textContent = h.response_rate_text || "";
    $("h-rate-counts").textContent = h.response_rate_counts || "";
  }

  /* The weighting's warnings (low effective sample, margins not met, weights trimmed), above
     the charts: weighted figures are not to be read without them. */
  function showWarnings(list) {
    var box = $("dash-warnings");
    if (!box) { return; }
    box.textContent = "";
    list.forEach(function (w) {
      var p = document.createElement("p");
      p.setAttribute("data-code", w.code);
      p.textContent = w.text;
      box.appendChild(p);
    });
    box.hidden = list.length === 0;
  }

  function showComputedAt(iso) {
    var el = $("dash-computed");
    if (!el || !iso || !S.computed_at) { return; }
    var when = new Date(iso);
    // In the office's time zone, as every time on the server's pages, not the browser's.
    var text = isNaN(when.getTime()) ? iso
      : when.toLocaleString(state.lang, S.time_zone ? { timeZone: S.time_zone } : undefined);
    el.textContent = S.computed_at.replace("{time}", text);
  }

  function updateLinks() {
    var links = document.querySelectorAll("a.dl[data-table]");
    for (var i = 0; i < links.length; i++) {
      var a = links[i];
      var extra = { format: a.getAttribute("data-format") };
      if (a.getAttribute("data-table") === "comments") {
        var q = $("c-q"), s = $("c-sentiment");
        if (q && q.value) { extra.q = q.value; }
        if (s && s.value) { extra.sentiment = s.value; }
      }
      a.href = "/api/v1/tables/" + a.getAttribute("data-table") + "?" + surveyParams(extra).toString();
    }
    var report = $("report-link");
    if (report && state.campaign_id) {
      var rp = new URLSearchParams({ lang: state.lang });
      if (state.session_id) { rp.set("session_id", state.session_id); }
      report.href = "/api/v1/reports/" + state.campaign_id + "?" + rp.toString();
    }
  }

  function syncUrl() {
    var p = surveyParams();
    history.replaceState(null, "", "/dashboard?" + p.toString());
  }

  function readFilters() {
    var f = state.filters;
    f.period = $("f-period") ? $("f-period").value : "month";
    f.area = $("f-area") ? $("f-area").value : "";
    f.unit_kind = $("f-kind") ? $("f-kind").value : "";
    f.weighted = $("f-weighted") ? $("f-weighted").checked : false;
    f.include_flagged = $("f-flagged") ? $("f-flagged").checked : false;
    f.month = $("f-month") ? $("f-month").value : "";
  }

  function onRankingClick(ev) {
    if (!ev || !ev.points || !ev.points.length) { return; }
    var cd = ev.points[0].customdata;
    var code = Array.isArray(cd) ? cd[0] : cd;
    if (!code) { return; }
    selectUnit(String(code));
  }

  function selectUnit(code) {
    state.filters.unit_code = code || "";
    var clear = $("profile-clear");
    if (clear) { clear.hidden = !code; }
    loadComments();
    return refresh(UNIT_FIGURES).then(function () {
      var sec = $("chart-profile");
      if (code && sec && sec.scrollIntoView) { sec.scrollIntoView({ block: "nearest" }); }
    });
  }

  function loadComments(ev) {
    if (ev) { ev.preventDefault(); }
    var table = $("comments-table");
    if (!table || !state.campaign_id) { return; }
    var extra = { format: "json" };
    var q = $("c-q"), s = $("c-sentiment");
    if (q && q.value) { extra.q = q.value; }
    if (s && s.value) { extra.sentiment = s.value; }
    getJSON("/api/v1/tables/comments?" + surveyParams(extra).toString())
      .then(function (data) {
        var body = table.tBodies[0];
        while (body.firstChild) { body.removeChild(body.firstChild); }
        (data.rows || []).forEach(function (row) {
          var tr = document.createElement("tr");
          [row.unit, row.sentiment_label || row.sentiment, row.comment].forEach(function (v) {
            var td = document.createElement("td");
            td.textContent = v === null || v === undefined ? "" : String(v);
            tr.appendChild(td);
          });
          if (row.sentiment) { tr.className = "s-" + row.sentiment; }
          body.appendChild(tr);
        });
        var note = $("comments-note");
        if (note) {
          note.textContent = !(data.rows || []).length ? S.comments_empty
            : (data.truncated ? S.comments_more : "");
        }
        updateLinks();
      })
      .catch(function () { setStatus(S.failed); });
  }

  function init() {
    var first = boot.bundle_url ? refresh([], boot.bundle_url) : Promise.resolve();
    first.then(function () {
      /* Milliseconds since navigation start when every chart is drawn (read by bench/, tests). */
      document.body.setAttribute("data-charts-ready", String(Math.round(performance.now())));
    });
    var clear = $("profile-clear");
    if (clear) {
      clear.hidden = !state.filters.unit_code;
      clear.addEventListener("click", function (ev) { ev.preventDefault(); selectUnit(""); });
    }
    var form = $("dash-filters");
    if (form) {
      form.addEventListener("submit", function (ev) { ev.preventDefault(); readFilters(); refresh([]); });
      ["f-period", "f-month", "f-area", "f-kind", "f-weighted", "f-flagged"].forEach(function (id) {
        var el = $(id);
        if (el) { el.addEventListener("change", function () { readFilters(); refresh([]); }); }
      });
      var camp = $("f-campaign");
      if (camp) {
        /* Another campaign has other areas and units: load its page. */
        camp.addEventListener("change", function () {
          state.filters.unit_code = "";
          var p = surveyParams({ campaign_id: camp.value });
          p.delete("unit_code");
          p.delete("area");
          window.location.assign("/dashboard?" + p.toString());
        });
      }
    }
    var search = $("comments-search");
    if (search) {
      search.addEventListener("submit", loadComments);
      var sel = $("c-sentiment");
      if (sel) { sel.addEventListener("change", loadComments); }
      loadComments();
    }
    var vote = $("vote-picker");
    if (vote) {
      var pick = function (ev) {
        if (ev) { ev.preventDefault(); }
        state.session_id = $("f-session").value;
        refresh(VOTE_FIGURES);
      };
      vote.addEventListener("submit", pick);
      $("f-session").addEventListener("change", pick);
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
