// authgate pages: keeps the access cookie fresh and the CSRF token current. No build step.
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

  function schedule(seconds) {
    var lead = Math.min(60, Math.max(5, seconds / 5));
    window.setTimeout(refresh, Math.max(1, seconds - lead) * 1000);
  }

  function refresh() {
    var headers = {};
    headers[data.csrfHeader] = cookie(data.csrfCookie);
    fetch(refreshUrl, { method: "POST", credentials: "same-origin", headers: headers })
      .then(function (response) {
        if (response.ok) {
          return response.json().then(function (answer) { schedule(answer.expires_in); });
        }
        if (response.status === 401) {
          window.location.assign("/?m=expired");
          return undefined;
        }
        window.setTimeout(refresh, 15000);  // a hiccup (5xx): try again soon
        return undefined;
      })
      .catch(function () { window.setTimeout(refresh, 15000); });
  }

  schedule(expiresIn);
})();
