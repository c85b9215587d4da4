// Setup-link page: create a discoverable, user-verified passkey.
"use strict";
(function () {
  const L = window.Latchkey;
  const form = document.getElementById("setup-form");
  if (!form || !L) return;
  const button = document.getElementById("passkey-create");
  form.addEventListener("submit", async function (ev) {
    ev.preventDefault();
    if (!L.supported) { L.setStatus(L.t("unsupported", "This browser does not support passkeys."), "error"); return; }
    button.disabled = true;
    L.setStatus(L.t("followPrompt", "Follow your browser's prompt to create the passkey…"));
    try {
      const begin = await L.postJSON(form.dataset.begin, {});
      const cred = await navigator.credentials.create({ publicKey: L.decodeCreation(begin.options.publicKey) });
      await L.postJSON(form.dataset.finish, {
        ceremonyID: begin.ceremonyID, name: document.getElementById("passkey-name").value,
        credential: L.encodeCredential(cred)
      });
      form.hidden = true;
      L.setStatus("");
      document.getElementById("done").hidden = false;
    } catch (err) {
      L.setStatus(L.explain(err), "error");
      button.disabled = false;
    }
  });
})();
