// Sign-in page: one discoverable passkey ceremony at a time. Conditional UI
// (autofill) starts on load when available; pressing the button aborts it
// and waits for it to settle before the modal ceremony starts, so the two
// never run together. The page carries the options of its first ceremony
// (the auth request's own challenge, data-first-begin): they serve until
// an answer to them is sent, which uses them up; later attempts ask the
// server for a new ceremony.
"use strict";
(function () {
  const L = window.Latchkey;
  const form = document.getElementById("login-form");
  const button = document.getElementById("passkey-signin");
  if (!form || !L) return;
  const authRequestID = form.dataset.authRequest;
  let running = null;      // promise of the ceremony in flight
  let abort = null;        // AbortController of the conditional ceremony
  let finishing = false;
  let first = form.dataset.firstBegin || ""; // JSON of the page's own first ceremony, until answered
  try { JSON.parse(first); } catch (e) { first = ""; }

  async function ceremony(conditional) {
    const fromPage = first !== "";
    // Parsed afresh each time: decodeRequest turns the challenge into bytes in place.
    const begin = fromPage ? JSON.parse(first) : await L.postJSON(form.dataset.begin, { authRequestID: authRequestID });
    const opts = { publicKey: L.decodeRequest(begin.options.publicKey) };
    if (conditional) {
      abort = new AbortController();
      opts.mediation = "conditional";
      opts.signal = abort.signal;
    }
    const cred = await navigator.credentials.get(opts);
    abort = null;
    finishing = true;
    if (fromPage) first = ""; // answered: its challenge is used up
    L.setStatus(L.t("checking", "Checking your passkey…"));
    const done = await L.postJSON(form.dataset.finish, {
      authRequestID: authRequestID, ceremonyID: begin.ceremonyID, credential: L.encodeCredential(cred)
    });
    L.setStatus(L.t("signedIn", "Signed in. Returning to the application…"), "ok");
    window.location.assign(done.redirect);
  }

  function start(conditional) {
    running = ceremony(conditional).catch(function (err) {
      finishing = false;
      if (conditional && err && err.name === "AbortError") return;
      if (conditional && err && err.name === "NotAllowedError") return; // no autofill credential
      L.setStatus(L.explain(err), "error");
    }).finally(function () { running = null; button.disabled = false; });
    return running;
  }

  form.addEventListener("submit", async function (ev) {
    ev.preventDefault();
    if (!L.supported) { L.setStatus(L.t("unsupported", "This browser does not support passkeys."), "error"); return; }
    if (finishing) return;
    button.disabled = true;
    if (running) {
      if (abort) abort.abort();
      await running;
      if (finishing) return;
    }
    L.setStatus(L.t("waiting", "Waiting for your passkey…"));
    start(false);
  });

  if (L.supported && PublicKeyCredential.isConditionalMediationAvailable) {
    PublicKeyCredential.isConditionalMediationAvailable().then(function (ok) {
      if (ok && !running) start(true);
    });
  }
})();
