// Recovery codes page: a button that prints the codes (app.css's print
// rules leave out the header, footer and buttons). Without script the
// button stays hidden and the browser's own Print still works.
"use strict";
(function () {
  const button = document.getElementById("codes-print");
  if (!button || typeof window.print !== "function") return;
  button.hidden = false;
  button.addEventListener("click", function () { window.print(); });
})();
