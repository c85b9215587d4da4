// Admin console: copy buttons and confirmation of destructive actions.
"use strict";
(function () {
  document.querySelectorAll("button.copy[data-copy]").forEach(function (btn) {
    btn.addEventListener("click", async function () {
      const field = document.getElementById(btn.dataset.copy);
      const status = document.getElementById("copy-status");
      if (!field) return;
      field.select();
      try {
        await navigator.clipboard.writeText(field.value);
        if (status) status.textContent = "Copied to the clipboard.";
      } catch (e) {
        if (status) status.textContent = "Press Ctrl+C (⌘C on a Mac) to copy the selected text.";
      }
    });
  });
  document.querySelectorAll("button[data-confirm]").forEach(function (btn) {
    btn.addEventListener("click", function (ev) {
      if (!window.confirm(btn.dataset.confirm)) ev.preventDefault();
    });
  });
})();
