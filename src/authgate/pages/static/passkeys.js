// authgate pages: passkeys (W3C WebAuthn Level 3). Sign in with a passkey, passkey
// autofill (conditional mediation), and adding / renaming / deleting passkeys on the
// account page. Talks to the JSON endpoints; the tokens stay in HttpOnly cookies.
(function () {
  "use strict";
  var data = document.body.dataset;
  if (!window.PublicKeyCredential) return;
  // A relying party id is a domain (W3C WebAuthn L3 §5.1.4.1 step 8): a page opened by
  // IP address (http://127.0.0.1:8000, serve's default) cannot use passkeys at all, so
  // say so once on the account page instead of failing at every sign-in page load.
  var host = window.location.hostname;
  if (/^[0-9.]+$/.test(host) || host.indexOf(":") !== -1 || host.charAt(0) === "[") {
    var note = document.getElementById("passkey-status");
    if (note) {
      note.className = "hint";
      note.textContent = "Passkeys need the site's name, not an IP address: open this page " +
        "at http://localhost:" + (window.location.port || "80") + " or at its https:// address.";
    }
    return;
  }

  function cookie(name) {
    var parts = document.cookie ? document.cookie.split("; ") : [];
    for (var i = 0; i < parts.length; i++) {
      var eq = parts[i].indexOf("=");
      if (parts[i].slice(0, eq) === name) return decodeURIComponent(parts[i].slice(eq + 1));
    }
    return "";
  }

  function call(method, url, body) {
    var headers = { "Content-Type": "application/json" };
    if (data.csrfHeader && data.csrfCookie) headers[data.csrfHeader] = cookie(data.csrfCookie);
    return fetch(url, {
      method: method,
      credentials: "same-origin",
      headers: headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    }).then(function (response) {
      if (response.status === 204) return null;
      return response.json().then(function (answer) {
        if (!response.ok) throw new Error(answer.error_description || answer.error || "failed");
        return answer;
      });
    });
  }

  function say(id, text) {
    var node = document.getElementById(id);
    if (node) node.textContent = text;
  }

  // -- signing in -----------------------------------------------------------------
  var signinButton = document.getElementById("passkey-signin");
  var pending = null;

  function signIn(mediation) {
    if (pending) pending.abort();
    var controller = new AbortController();
    pending = controller;
    return call("POST", data.passkeyOptionsUrl, {}).then(function (options) {
      var request = { publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(options) };
      request.signal = controller.signal;
      if (mediation) request.mediation = mediation;
      return navigator.credentials.get(request);
    }).then(function (credential) {
      if (!credential) return undefined;
      return call("POST", data.passkeyLoginUrl, { credential: credential.toJSON() })
        .then(function () { window.location.assign("/account"); });
    }).catch(function (error) {
      if (error && error.name === "AbortError") return;
      // Autofill runs unasked in the background: its failure is not the user's to read.
      if (mediation === "conditional") return;
      say("passkey-signin-status", "Passkey sign-in failed: " + error.message);
    });
  }

  if (signinButton) {
    signinButton.hidden = false;
    signinButton.addEventListener("click", function () { signIn(null); });
    if (PublicKeyCredential.isConditionalMediationAvailable) {
      PublicKeyCredential.isConditionalMediationAvailable().then(function (available) {
        if (available) signIn("conditional");
      });
    }
  }

  // -- a login's second step (signin_mfa.html): offered when the user has passkeys ----
  var stepButton = document.getElementById("passkey-second-step");
  var tokenInput = document.querySelector('input[name="mfa_token"]');
  if (stepButton && tokenInput) {
    var mfaToken = tokenInput.value;
    call("POST", data.passkeyOptionsUrl, { mfa_token: mfaToken }).then(function (options) {
      if (!options.allowCredentials || !options.allowCredentials.length) return;
      stepButton.hidden = false;
      stepButton.addEventListener("click", function () {
        var publicKey = PublicKeyCredential.parseRequestOptionsFromJSON(options);
        navigator.credentials.get({ publicKey: publicKey }).then(function (credential) {
          return call("POST", data.passkeyLoginUrl, {
            credential: credential.toJSON(),
            mfa_token: mfaToken,
          });
        }).then(function () {
          window.location.assign("/account");
        }).catch(function (error) {
          say("passkey-signin-status", "The passkey did not work: " + error.message);
        });
      });
    }).catch(function () { /* the code form still works */ });
  }

  // -- the account page -----------------------------------------------------------
  var addButton = document.getElementById("passkey-add");
  if (addButton) {
    addButton.hidden = false;
    addButton.addEventListener("click", function () {
      var password = document.getElementById("passkey-password");
      var name = document.getElementById("passkey-name");
      var body = password && password.value ? { current_password: password.value } : {};
      say("passkey-status", "");
      call("POST", data.passkeysUrl + "/options", body).then(function (options) {
        var publicKey = PublicKeyCredential.parseCreationOptionsFromJSON(options);
        return navigator.credentials.create({ publicKey: publicKey });
      }).then(function (credential) {
        var label = (name && name.value) || "passkey";
        return call("POST", data.passkeysUrl, { credential: credential.toJSON(), name: label });
      }).then(function () {
        window.location.assign("/account?m=passkey_added");
      }).catch(function (error) {
        say("passkey-status", "The passkey was not added: " + error.message);
      });
    });
  }

  document.addEventListener("click", function (event) {
    var target = event.target;
    if (!(target instanceof HTMLElement) || !target.dataset.passkeyAction) return;
    var row = target.closest("[data-passkey-id]");
    if (!row) return;
    var url = data.passkeysUrl + "/" + encodeURIComponent(row.dataset.passkeyId);
    var done;
    if (target.dataset.passkeyAction === "rename") {
      var input = row.querySelector("input[name=passkey-rename]");
      done = call("PATCH", url, { name: input ? input.value : "" });
    } else {
      // The account's last second factor goes only with the password (SECURITY.md #58).
      var password = document.getElementById("passkey-password");
      done = call("DELETE", url, password && password.value ? { current_password: password.value } : undefined);
    }
    done.then(function () { window.location.assign("/account"); })
      .catch(function (error) { say("passkey-status", error.message); });
  });
})();
