// The what-if page while its simulation is queued or running: asks for the
// status every few seconds (the page's live region says what is happening)
// and loads the page again once the result is there. Without JavaScript the
// "Check now" link does the same.
(function () {
  "use strict";
  const status = document.getElementById("whatif-status");
  if (!status || !status.dataset.statusUrl) {
    return;
  }
  const seconds = Number(status.dataset.refreshSeconds) || 5;
  function check() {
    fetch(status.dataset.statusUrl, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then((response) => (response.ok ? response.json() : null))
      .then((data) => {
        if (data && (data.status === "done" || data.status === "failed")) {
          window.location.reload();
        } else {
          window.setTimeout(check, seconds * 1000);
        }
      })
      .catch(() => window.setTimeout(check, seconds * 2000));
  }
  window.setTimeout(check, seconds * 1000);
})();
