// The console's voting-session pages: the rule's preview and the running total as the form is
// filled in, "select all" for the electorate, and the live turnout of an open session.
// Everything works without this file; it only saves a round trip or a reload.
"use strict";

(() => {
  const form = document.getElementById("session-form");
  if (form) {
    const field = (name) => form.elements.namedItem(name);
    const value = (name) => (field(name) ? String(field(name).value).trim() : "");
    const number = (name) => {
      const raw = value(name).replace(/[,，]/g, "");
      return /^\d+$/.test(raw) ? Number(raw) : null;
    };
    const total = () => {
      let sum = 0;
      form.querySelectorAll("input[name=project_ids]:checked").forEach((box) => {
        sum += Number(box.dataset.cost || 0);
      });
      const budget = number("budget_cap") || 0;
      document.getElementById("total-cost").textContent = sum.toLocaleString("en-US");
      document.getElementById("total-budget").textContent = budget.toLocaleString("en-US");
      document.getElementById("total-over").hidden = !(budget > 0 && sum > budget);
    };
    const preview = document.getElementById("rule-preview");
    let pending = 0;
    // A threshold that still lacks its number is not asked about: the server would only say 422.
    const complete = () => {
      const kind = value("threshold_kind");
      if (kind === "fraction") return /^\d+(\.\d+)?(\/\d+)?$/.test(value("threshold_value"));
      if (kind === "min_votes") return number("threshold_value") !== null;
      return true;
    };
    const refresh = async () => {
      if (!complete()) return;
      const ticket = ++pending;
      const query = new URLSearchParams({
        kind: value("kind") || "selection",
        budget_cap: String(number("budget_cap") || 0),
        threshold: value("threshold_kind") || "majority_of_all",
        threshold_value: value("threshold_value"),
        on_no_fit: value("on_no_fit") || "skip",
        electorate: form.dataset.electorate || "0",
      });
      for (const name of ["max_selected", "max_for_per_ballot"]) {
        if (number(name) !== null) query.set(name, String(number(name)));
      }
      try {
        const response = await fetch(`${form.dataset.previewUrl}?${query}`, {
          credentials: "same-origin",
        });
        if (ticket !== pending || !response.ok) return; // a later request answers, or the form says why
        const data = await response.json();
        preview.textContent = document.documentElement.lang === "en" ? data.text_en : data.text;
      } catch (_error) {
        // Offline: the preview is shown again from the server once the form is saved.
      }
    };
    let timer = 0;
    form.addEventListener("input", () => {
      total();
      window.clearTimeout(timer);
      timer = window.setTimeout(refresh, 250);
    });
    form.addEventListener("change", () => {
      total();
      refresh();
    });
    total();
  }

  const toggle = document.getElementById("toggle-all");
  if (toggle) {
    const boxes = () => document.querySelectorAll("#electorate-form input[name=deputy][type=checkbox]");
    document.getElementById("toggle-all-row").hidden = false;
    toggle.checked = boxes().length > 0 && Array.from(boxes()).every((b) => b.checked);
    toggle.addEventListener("change", () => {
      boxes().forEach((b) => {
        b.checked = toggle.checked;
      });
    });
  }

  const turnout = document.getElementById("turnout");
  if (turnout && turnout.dataset.state === "open") {
    const every = Number(turnout.dataset.interval || 3000);
    const poll = async () => {
      try {
        const response = await fetch(turnout.dataset.url, { credentials: "same-origin" });
        if (response.ok) {
          const data = await response.json();
          document.getElementById("turnout-cast").textContent = String(data.cast);
          document.getElementById("turnout-electorate").textContent = String(data.electorate);
          if (data.state !== "open") return; // closed elsewhere: the page's actions are stale
        }
      } catch (_error) {
        // A dropped request: try again at the next tick.
      }
      window.setTimeout(poll, every);
    };
    window.setTimeout(poll, every);
  }
})();
