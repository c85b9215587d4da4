// Account page: add a passkey, and tell the browser's passkey provider which
// passkeys still exist (WebAuthn Signals API), so a deleted one disappears
// from password managers too. Signals are feature-detected: browsers
// without them simply skip this.
"use strict";
(function () {
  const L = window.Latchkey;
  const sig = document.getElementById("signals");
  if (sig && window.PublicKeyCredential) {
    const rpId = sig.dataset.rpId;
    const removed = sig.dataset.removed;
    if (removed && typeof PublicKeyCredential.signalUnknownCredential === "function") {
      PublicKeyCredential.signalUnknownCredential({ rpId: rpId, credentialId: removed }).catch(function () {});
    }
    // Only with a signed-in user: an empty list would tell the provider
    // that none of the user's passkeys is accepted any more.
    if (sig.dataset.userId && typeof PublicKeyCredential.signalAllAcceptedCredentials === "function") {
      const ids = sig.dataset.accepted ? sig.dataset.accepted.split(",") : [];
      PublicKeyCredential.signalAllAcceptedCredentials({ rpId: rpId, userId: sig.dataset.userId, allAcceptedCredentialIds: ids }).catch(function () {});
    }
  }
  document.querySelectorAll("button[data-confirm]").forEach(function (btn) {
    btn.addEventListener("click", function (ev) { if (!window.confirm(btn.dataset.confirm)) ev.preventDefault(); });
  });
  const form = document.getElementById("add-passkey-form");
  if (!form || !L) return;
  const button = document.getElementById("add-passkey");
  form.addEventListener("submit", async function (ev) {
    ev.preventDefault();
    if (!L.supported) { L.setStatus(L.t("unsupported", "This browser does not support passkeys."), "error"); return; }
    button.disabled = true;
    L.setStatus(L.t("followPrompt", "Follow your browser's prompt to create the passkey…"));
    try {
      let begin;
      try {
        begin = await L.postJSON(form.dataset.begin, {});
      } catch (err) {
        if (err.status !== 401) throw err;
        // The last sign-in is too old: confirm with an existing passkey.
        L.setStatus(err.message);
        const lb = await L.postJSON("/account/login/begin", {});
        const assertion = await navigator.credentials.get({ publicKey: L.decodeRequest(lb.options.publicKey) });
        await L.postJSON("/account/login/finish", { ceremonyID: lb.ceremonyID, credential: L.encodeCredential(assertion) });
        L.setStatus(L.t("followPrompt", "Follow your browser's prompt to create the passkey…"));
        begin = await L.postJSON(form.dataset.begin, {});
      }
      const cred = await navigator.credentials.create({ publicKey: L.decodeCreation(begin.options.publicKey) });
      const done = await L.postJSON(form.dataset.finish, {
        ceremonyID: begin.ceremonyID, name: document.getElementById("new-passkey-name").value,
        credential: L.encodeCredential(cred)
      });
      window.location.assign(done.redirect);
    } catch (err) {
      L.setStatus(L.explain(err), "error");
      button.disabled = false;
    }
  });
})();
