// Shared WebAuthn helpers for Latchkey pages: base64url <-> ArrayBuffer,
// option decoding, credential encoding, and JSON POSTs with the CSRF token.
"use strict";
(function () {
  function b64urlToBuf(s) {
    s = s.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) s += "=";
    const bin = atob(s);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.buffer;
  }
  function bufToB64url(buf) {
    const bytes = new Uint8Array(buf);
    let bin = "";
    for (let i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function decodeCreation(pk) {
    pk.challenge = b64urlToBuf(pk.challenge);
    pk.user.id = b64urlToBuf(pk.user.id);
    (pk.excludeCredentials || []).forEach(function (c) { c.id = b64urlToBuf(c.id); });
    return pk;
  }
  function decodeRequest(pk) {
    pk.challenge = b64urlToBuf(pk.challenge);
    (pk.allowCredentials || []).forEach(function (c) { c.id = b64urlToBuf(c.id); });
    return pk;
  }
  function encodeCredential(cred) {
    const r = cred.response;
    const out = {
      id: cred.id, rawId: bufToB64url(cred.rawId), type: cred.type,
      authenticatorAttachment: cred.authenticatorAttachment || undefined,
      clientExtensionResults: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
      response: { clientDataJSON: bufToB64url(r.clientDataJSON) }
    };
    if (r.attestationObject) {
      out.response.attestationObject = bufToB64url(r.attestationObject);
      if (r.getTransports) out.response.transports = r.getTransports();
    } else {
      out.response.authenticatorData = bufToB64url(r.authenticatorData);
      out.response.signature = bufToB64url(r.signature);
      if (r.userHandle) out.response.userHandle = bufToB64url(r.userHandle);
    }
    return out;
  }
  // t returns the page's translation of a script message (the layout's
  // #js-text data attributes), or the English fallback.
  function t(key, fallback) {
    const el = document.getElementById("js-text");
    return (el && el.dataset[key]) || fallback;
  }
  async function postJSON(url, body) {
    const meta = document.querySelector('meta[name="csrf-token"]');
    const res = await fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": meta ? meta.content : "" },
      body: JSON.stringify(body)
    });
    let data = {};
    try { data = await res.json(); } catch (e) { /* non-JSON error */ }
    if (!res.ok) {
      const err = new Error(data.error || (t("requestFailed", "Request failed") + " (" + res.status + ")"));
      err.status = res.status;
      throw err;
    }
    return data;
  }
  function explain(err) {
    if (!err) return t("failed", "Something went wrong.");
    if (err.name === "NotAllowedError") return t("cancelled", "The passkey request was cancelled or timed out. Try again.");
    if (err.name === "InvalidStateError") return t("exists", "This authenticator already holds a passkey for your account.");
    if (err.name === "SecurityError") return t("insecure", "This page's address is not allowed to use passkeys.");
    return err.message || String(err);
  }
  function setStatus(text, kind) {
    const el = document.getElementById("status");
    if (!el) return;
    el.textContent = text;
    el.className = "status" + (kind ? " " + kind : "");
  }
  window.Latchkey = { decodeCreation: decodeCreation, decodeRequest: decodeRequest, encodeCredential: encodeCredential,
    postJSON: postJSON, explain: explain, setStatus: setStatus, t: t, supported: !!window.PublicKeyCredential };
})();
