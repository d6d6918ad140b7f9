// authgate recovery pages (/reset, /verify): the link's token is in the URL fragment,
// which browsers never send to the server. Read it once, take it out of the address
// bar and history, and post it to the JSON endpoint when the user submits.
(function () {
  "use strict";
  var data = document.body.dataset;
  var match = /(?:^#|&)token=([A-Za-z0-9_-]+)/.exec(window.location.hash);
  var token = match ? match[1] : "";
  if (window.location.hash) {
    window.history.replaceState(null, "", window.location.pathname + window.location.search);
  }
  var status = document.getElementById("recovery-status");

  function say(text, ok) {
    status.textContent = text;
    status.className = ok ? "notice" : "error form-error";
    status.hidden = false;
  }

  function post(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "omit",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body)
    });
  }

  function failure(response) {
    return response.json().then(function (answer) {
      if (answer.error === "invalid_grant") {
        return "This link is invalid, was already used or has expired. Ask for a new one.";
      }
      return answer.error_description || "That did not work (" + response.status + ").";
    }, function () { return "That did not work (" + response.status + "). Try again."; });
  }

  var form = document.getElementById("reset-form") || document.getElementById("verify-form");
  if (!form) return;
  if (!token) {
    say("This link is incomplete: open the whole link from your message.", false);
    form.hidden = true;
    return;
  }
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var request = data.confirmUrl
      ? post(data.confirmUrl, { token: token, new_password: form.elements.new_password.value })
      : post(data.verifyUrl, { token: token });
    request.then(function (response) {
      if (response.status === 204) {
        if (data.confirmUrl) {
          window.location.assign("/?m=password_changed_signin");
        } else {
          form.hidden = true;
          say("Your email address is confirmed.", true);
        }
        return undefined;
      }
      return failure(response).then(function (text) { say(text, false); });
    }).catch(function () { say("The server could not be reached. Try again.", false); });
  });
})();
