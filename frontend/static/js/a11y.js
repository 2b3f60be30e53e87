// Larger text, higher contrast: the header's toggle switches the class on <html> in place and
// remembers the choice twice: in a cookie, so the server draws the next page in it without a
// flash, and in localStorage, which outlives a cookie the browser clears.
(function () {
  "use strict";
  var KEY = "minyi.textSize";
  var root = document.documentElement;

  function cookieSize() {
    var m = document.cookie.match(/(?:^|;\s*)text_size=(large|standard)/);
    return m ? m[1] : null;
  }

  function remember(size) {
    var secure = location.protocol === "https:" ? "; secure" : "";
    document.cookie = "text_size=" + size + "; path=/; max-age=31536000; samesite=lax" + secure;
    try { localStorage.setItem(KEY, size); } catch (e) { /* private mode: the cookie is enough */ }
  }

  function apply(large) {
    root.classList.toggle("large-text", large);
    document.querySelectorAll("a.text-size").forEach(function (a) {
      a.setAttribute("aria-pressed", large ? "true" : "false");
      a.href = a.href.replace(/size=(large|standard)/, "size=" + (large ? "standard" : "large"));
    });
    // Charts size their text when drawn: let them redraw for the new size.
    window.dispatchEvent(new Event("resize"));
  }

  var stored = null;
  try { stored = localStorage.getItem(KEY); } catch (e) { /* no storage */ }
  var fromCookie = cookieSize();
  if (fromCookie) {
    if (stored !== fromCookie) { remember(fromCookie); }
  } else if (stored === "large") {
    remember("large");
    apply(true);
  }

  document.querySelectorAll("a.text-size").forEach(function (a) {
    a.addEventListener("click", function (ev) {
      ev.preventDefault();
      var large = !root.classList.contains("large-text");
      remember(large ? "large" : "standard");
      apply(large);
    });
    // A link styled as a button answers the space bar as a button does.
    a.addEventListener("keydown", function (ev) {
      if (ev.key === " ") { ev.preventDefault(); a.click(); }
    });
  });
})();
