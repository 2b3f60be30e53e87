// The console's small behaviours (no inline handlers: the Content-Security-Policy forbids them).
"use strict";

document.addEventListener("click", (event) => {
  const button = event.target instanceof Element ? event.target.closest("[data-print]") : null;
  if (button) {
    window.print();
  }
});
