/* The member portal's only script: progressive enhancement, the pages work without it.
   On the card page, a toggle keeps the screen on (Screen Wake Lock API) while the
   card is shown at the till. Texts come from the page (data attributes), translated. */
(function () {
  "use strict";

  var button = document.querySelector("[data-wake-lock]");
  if (!button || !("wakeLock" in navigator)) {
    return;
  }
  var status = document.querySelector("[data-wake-lock-status]");
  var lock = null;
  var wanted = false;

  function show(on) {
    button.setAttribute("aria-pressed", on ? "true" : "false");
    if (status) {
      status.textContent = on ? button.dataset.onText : "";
    }
  }

  function acquire() {
    navigator.wakeLock.request("screen").then(function (sentinel) {
      lock = sentinel;
      lock.addEventListener("release", function () {
        lock = null;
        if (!wanted) {
          show(false);
        }
      });
      show(true);
    }).catch(function () {
      wanted = false;
      show(false);
      if (status) {
        status.textContent = button.dataset.failedText;
      }
    });
  }

  button.hidden = false;
  button.addEventListener("click", function () {
    wanted = !wanted;
    if (wanted) {
      acquire();
    } else {
      if (lock) {
        lock.release();
      }
      show(false);
    }
  });

  // The browser drops the lock when the page is hidden; take it again on return.
  document.addEventListener("visibilitychange", function () {
    if (wanted && !lock && document.visibilityState === "visible") {
      acquire();
    }
  });
})();
