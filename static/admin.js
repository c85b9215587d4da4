// Admin console: copy buttons, confirmation of destructive actions, group pickers.
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
  // Group pickers (issue 18: forms never list every group): suggest the
  // groups that start with the name being typed after the last comma,
  // from the server, a page at a time.
  document.querySelectorAll("input[data-group-search]").forEach(function (input) {
    const list = document.getElementById(input.getAttribute("list"));
    if (!list) return;
    let timer = 0;
    let asked = "";
    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(async function () {
        const text = input.value;
        const cut = text.lastIndexOf(",") + 1;
        const head = cut > 0 ? text.slice(0, cut) + " " : "";
        const prefix = text.slice(cut).trim();
        if (prefix === asked) return;
        asked = prefix;
        try {
          const resp = await fetch(input.dataset.groupSearch + "?q=" + encodeURIComponent(prefix), { credentials: "same-origin" });
          if (!resp.ok || asked !== prefix) return;
          const body = await resp.json();
          list.replaceChildren(...body.groups.map(function (name) {
            const opt = document.createElement("option");
            opt.value = head + name;
            return opt;
          }));
        } catch (e) {
          // Suggestions are a convenience: typing the names still works.
        }
      }, 150);
    });
  });
})();
