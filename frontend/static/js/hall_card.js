/* The seat-card page: the code arrives in the URL's fragment (never sent to the server);
   it is moved into the form and posted at once, and the fragment is cleared. While waiting
   for the vote to open, the session's state is polled and the page moves on by itself. */
(function () {
  "use strict";

  var form = document.getElementById("card-form");
  if (form) {
    var code = decodeURIComponent(window.location.hash.replace(/^#/, "")).trim();
    if (code) {
      history.replaceState(null, "", window.location.pathname + window.location.search);
      if (form.getAttribute("data-auto") === "1") {
        document.getElementById("card-code").value = code;
        form.submit();
      }
    }
  }

  var refresh = document.getElementById("card-refresh");
  if (refresh) {
    var url = refresh.getAttribute("data-state-url");
    var poll = function () {
      fetch(url, { headers: { Accept: "application/json" }, cache: "no-store" })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (data) {
          if (data && data.state && data.state !== "draft") { refresh.submit(); }
          else { window.setTimeout(poll, 3000); }
        })
        .catch(function () { window.setTimeout(poll, 5000); });
    };
    window.setTimeout(poll, 3000);
  }

  var print = document.getElementById("print-cards");
  if (print) { print.addEventListener("click", function () { window.print(); }); }
}());
