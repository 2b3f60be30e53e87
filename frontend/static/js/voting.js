/* Voting pages: the ballot's live counter, the figures, and the receipt check.
   No inline script anywhere: page data comes from <script type="application/json"> blocks. */
(function () {
  "use strict";

  function byId(id) { return document.getElementById(id); }

  function readJson(id) {
    var el = byId(id);
    if (!el) { return null; }
    try { return JSON.parse(el.textContent); } catch (e) { return null; }
  }

  // --- the ballot: how many marked, how many "for", and the limit -------------------------
  var form = byId("ballot");
  if (form) {
    var boot = readJson("vote-boot") || {};
    var counter = byId("counter");
    var review = byId("review");
    var template = counter.getAttribute("data-template") || "";
    var update = function () {
      var cards = form.querySelectorAll(".ballot-card");
      var done = 0;
      var fors = 0;
      cards.forEach(function (card) {
        var checked = card.querySelector("input[type=radio]:checked");
        if (checked) {
          done += 1;
          if (checked.value === "for") { fors += 1; }
        }
      });
      var text = template.replace("{done}", done).replace("{total}", cards.length).replace("{for}", fors);
      var over = boot.max_for !== null && boot.max_for !== undefined && fors > boot.max_for;
      counter.textContent = over ? text + " · " + counter.getAttribute("data-too-many") : text;
      counter.classList.toggle("over", over);
      review.disabled = over;
    };
    form.addEventListener("change", update);
    update();
  }

  // --- figures ----------------------------------------------------------------------------
  // Below this width a chart is on a phone: plotly wraps its toolbar into rows that cover
  // the title, so a phone gets no toolbar, and the vote keeps its first panel only.
  var NARROW = 480;

  function shorten(text, max) {
    var plain = String(text).replace(/<[^>]*>/g, "");
    return plain.length > max ? plain.slice(0, max - 1) + "…" : plain;
  }

  function fitVoteToPhone(data, layout) {
    // The budget and outcome panels (x2, x3) repeat what each result card says in words.
    data.forEach(function (t) { if (t.xaxis && t.xaxis !== "x") { t.visible = false; } });
    layout.xaxis = Object.assign({}, layout.xaxis, { domain: [0, 1] });
    ["xaxis2", "xaxis3"].forEach(function (k) { layout[k] = Object.assign({}, layout[k], { visible: false }); });
    (layout.shapes || []).forEach(function (s) { if (s.xref && s.xref.indexOf("x2") === 0) { s.visible = false; } });
    (layout.annotations || []).forEach(function (a, i) {
      if (i === 0) { a.x = 0; a.xanchor = "left"; } else { a.visible = false; }
    });
    // Project names cut to fit beside the bars; the full name shows on tap and in the cards.
    var ys = (data[0] && data[0].y) || [];
    layout.yaxis = Object.assign({}, layout.yaxis, {
      tickmode: "array", tickvals: ys, ticktext: ys.map(function (y) { return shorten(y, 10); }), automargin: true
    });
    layout.margin = Object.assign({}, layout.margin, { l: 10, r: 16 });
    if (layout.title && typeof layout.title.text === "string") {
      layout.title.text = layout.title.text.split("<br>")[0];  // the rule is in words above
      layout.margin.t = 80;
    }
  }

  function plot(divId, dataId) {
    var div = byId(divId);
    var fig = readJson(dataId);
    if (!div || !fig || typeof Plotly === "undefined") { return; }
    var data = fig.data || [];
    var layout = fig.layout || {};
    layout.autosize = true;
    delete layout.width;
    var config = { responsive: true, displaylogo: false };
    if (div.clientWidth < NARROW) {
      if (divId === "plot-vote") { fitVoteToPhone(data, layout); }
      config.displayModeBar = false;
    }
    Plotly.newPlot(div, data, layout, config);
  }
  plot("plot-vote", "figure-vote");
  plot("plot-tracker", "figure-tracker");

  // --- receipt check: hashed in the browser, never sent ----------------------------------
  // SHA-256 for browsers without crypto.subtle (plain http on an intranet is not a
  // "secure context", so SubtleCrypto is missing there).
  function sha256Fallback(ascii) {
    var K = [
      0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
      0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
      0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
      0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
      0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
      0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
      0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
      0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2
    ];
    var H = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];
    var bytes = [];
    for (var i = 0; i < ascii.length; i++) { bytes.push(ascii.charCodeAt(i) & 0xff); }
    var bitLen = bytes.length * 8;
    bytes.push(0x80);
    while (bytes.length % 64 !== 56) { bytes.push(0); }
    for (var s = 7; s >= 0; s--) { bytes.push(s >= 4 ? 0 : (bitLen >>> (s * 8)) & 0xff); }
    var rotr = function (x, n) { return (x >>> n) | (x << (32 - n)); };
    var w = new Array(64);
    for (var off = 0; off < bytes.length; off += 64) {
      for (var t = 0; t < 16; t++) {
        w[t] = (bytes[off + 4 * t] << 24) | (bytes[off + 4 * t + 1] << 16) | (bytes[off + 4 * t + 2] << 8) | bytes[off + 4 * t + 3];
      }
      for (t = 16; t < 64; t++) {
        var s0 = rotr(w[t - 15], 7) ^ rotr(w[t - 15], 18) ^ (w[t - 15] >>> 3);
        var s1 = rotr(w[t - 2], 17) ^ rotr(w[t - 2], 19) ^ (w[t - 2] >>> 10);
        w[t] = (w[t - 16] + s0 + w[t - 7] + s1) | 0;
      }
      var a = H[0], b = H[1], c = H[2], d = H[3], e = H[4], f = H[5], g = H[6], h = H[7];
      for (t = 0; t < 64; t++) {
        var S1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25);
        var ch = (e & f) ^ (~e & g);
        var t1 = (h + S1 + ch + K[t] + w[t]) | 0;
        var S0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22);
        var maj = (a & b) ^ (a & c) ^ (b & c);
        var t2 = (S0 + maj) | 0;
        h = g; g = f; f = e; e = (d + t1) | 0; d = c; c = b; b = a; a = (t1 + t2) | 0;
      }
      H[0] = (H[0] + a) | 0; H[1] = (H[1] + b) | 0; H[2] = (H[2] + c) | 0; H[3] = (H[3] + d) | 0;
      H[4] = (H[4] + e) | 0; H[5] = (H[5] + f) | 0; H[6] = (H[6] + g) | 0; H[7] = (H[7] + h) | 0;
    }
    return H.map(function (x) { return ("00000000" + (x >>> 0).toString(16)).slice(-8); }).join("");
  }

  function sha256(ascii) {
    if (window.crypto && window.crypto.subtle && window.isSecureContext) {
      var data = new TextEncoder().encode(ascii);
      return window.crypto.subtle.digest("SHA-256", data).then(function (buf) {
        return Array.prototype.map.call(new Uint8Array(buf), function (x) {
          return ("0" + x.toString(16)).slice(-2);
        }).join("");
      });
    }
    return Promise.resolve(sha256Fallback(ascii));
  }

  var verify = byId("verify-form");
  if (verify) {
    var resultsBoot = readJson("results-boot") || {};
    var out = byId("verify-result");
    var ballots = null;
    verify.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var code = (byId("receipt").value || "").toUpperCase().replace(/[^A-Z0-9]/g, "");
      if (!code) { return; }
      var load = ballots ? Promise.resolve(ballots) : fetch(resultsBoot.ballots_url, { credentials: "omit" })
        .then(function (r) { return r.json(); }).then(function (b) { ballots = b; return b; });
      Promise.all([sha256(code), load]).then(function (both) {
        var hash = both[0];
        var found = null;
        both[1].forEach(function (b) { if (b.receipt_hash === hash) { found = b; } });
        out.textContent = "";
        var box = document.createElement("div");
        if (!found) {
          box.className = "missing";
          box.textContent = out.getAttribute("data-missing");
        } else {
          box.className = "found";
          var p = document.createElement("p");
          p.textContent = out.getAttribute("data-found");
          box.appendChild(p);
          var ul = document.createElement("ul");
          Object.keys(found.choices).forEach(function (pid) {
            var li = document.createElement("li");
            var mark = found.choices[pid];
            var label = out.getAttribute("data-choice-" + mark.replace(/_/g, "-")) || mark;
            li.textContent = ((resultsBoot.titles || {})[pid] || pid) + ": " + label;
            ul.appendChild(li);
          });
          box.appendChild(ul);
        }
        out.appendChild(box);
      });
    });
  }
}());
