/* The till's points preview: as the cashier types the amount of a purchase,
   the points it would earn (and why) appear under the field, fetched from
   the preview endpoint as an HTML fragment. Optional: without JavaScript the
   "Preview the points" button shows the same on a reloaded page. Enter still
   records the purchase; nothing here takes the focus or slows typing. */
(function () {
  "use strict";

  var box = document.querySelector("[data-till-preview]");
  if (!box || !window.fetch || !window.AbortController) return;
  var form = box.closest("form");
  var input = form && form.querySelector("input[name='purchase-amount']");
  if (!input) return;
  var url = box.getAttribute("data-till-preview");
  var timer = null;
  var last = input.value.trim();
  var pending = null;

  function update() {
    var value = input.value.trim();
    if (value === last) return;
    last = value;
    if (pending) pending.abort();
    if (!value) {
      box.innerHTML = "";
      return;
    }
    pending = new AbortController();
    var query = "?fragment=1&purchase-amount=" + encodeURIComponent(value);
    fetch(url + query, { credentials: "same-origin", signal: pending.signal })
      .then(function (response) { return response.ok ? response.text() : ""; })
      .then(function (html) { box.innerHTML = html; })
      .catch(function () { /* aborted or offline: the preview is only a help */ });
  }

  input.addEventListener("input", function () {
    window.clearTimeout(timer);
    timer = window.setTimeout(update, 250);
  });
})();
