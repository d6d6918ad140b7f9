// authgate pages: keeps the access cookie fresh and the CSRF token current. No build step.
// The tokens are in HttpOnly cookies; this script only ever sees the CSRF token.
(function () {
  "use strict";
  var body = document.body;
  var data = body.dataset;

  function cookie(name) {
    var parts = document.cookie ? document.cookie.split("; ") : [];
    for (var i = 0; i < parts.length; i++) {
      var eq = parts[i].indexOf("=");
      if (parts[i].slice(0, eq) === name) return decodeURIComponent(parts[i].slice(eq + 1));
    }
    return "";
  }

  // Forms carry the token in a hidden field (so they work without JS); refresh it from
  // the cookie at submit time in case another tab signed in again meanwhile.
  if (data.csrfCookie && data.csrfField) {
    document.addEventListener("submit", function (event) {
      var token = cookie(data.csrfCookie);
      var input = event.target.querySelector('input[name="' + data.csrfField + '"]');
      if (token && input) input.value = token;
    }, true);
  }

  // Refresh the access token a little before it expires, without the user noticing.
  var refreshUrl = data.refreshUrl;
  var expiresIn = Number(data.expiresIn || 0);
  if (!refreshUrl || !expiresIn) return;

  var timer = 0;
  var dueAt = 0;

  function schedule(seconds) {
    var lead = Math.min(60, Math.max(5, seconds / 5));
    var delay = Math.max(1, seconds - lead) * 1000;
    dueAt = Date.now() + delay;
    window.clearTimeout(timer);
    timer = window.setTimeout(refresh, delay);
  }

  // Background tabs run timers late; catch up as soon as the tab is shown again.
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible" && dueAt && Date.now() >= dueAt) refresh();
  });

  function refresh() {
    dueAt = 0;
    var headers = {};
    headers[data.csrfHeader] = cookie(data.csrfCookie);
    fetch(refreshUrl, { method: "POST", credentials: "same-origin", headers: headers })
      .then(function (response) {
        if (response.ok) {
          return response.json().then(function (answer) { schedule(answer.expires_in); });
        }
        if (response.status === 400 || response.status === 401) {
          // The session ended (signed out elsewhere, expired): say so on the sign-in page.
          window.location.assign("/?m=expired");
          return undefined;
        }
        timer = window.setTimeout(refresh, 15000);  // a hiccup (5xx): try again soon
        return undefined;
      })
      .catch(function () { timer = window.setTimeout(refresh, 15000); });
  }

  schedule(expiresIn);
})();
