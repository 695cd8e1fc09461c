/* The till, progressively enhanced. Everything here is optional: without
   JavaScript the results are plain links, the forms submit as they are and
   the camera button stays hidden.

   - Search results: ArrowDown from the search box enters the list; arrows,
     Home and End move between members (roving tabindex); Enter opens one;
     ArrowUp from the first goes back to the box.
   - Fields marked data-till-scan (the card field): a barcode scanner ends
     with Enter, which moves on to the next field instead of submitting.
   - "Scan with camera": shown only when getUserMedia exists. Uses the
     browser's BarcodeDetector, else the vendored barcode-detector ponyfill
     whose zxing .wasm is served from our static files (never a CDN).
   - The printable card gets a Print button. */
(function () {
  "use strict";

  var FORMATS = ["ean_13", "qr_code", "code_128"];

  function searchBox() {
    return document.querySelector("[data-till-search] input[type=search]");
  }

  function setupResults() {
    var list = document.querySelector("[data-till-results]");
    if (!list) return;
    var links = Array.prototype.slice.call(list.querySelectorAll("a"));
    if (!links.length) return;
    var current = 0;
    function mark(index) {
      current = index;
      links.forEach(function (link, i) { link.setAttribute("tabindex", i === index ? "0" : "-1"); });
    }
    function focusAt(index) {
      mark(Math.max(0, Math.min(links.length - 1, index)));
      links[current].focus();
    }
    mark(0);
    list.addEventListener("keydown", function (event) {
      var index = links.indexOf(document.activeElement);
      if (index < 0) return;
      var box = searchBox();
      if (event.key === "ArrowDown") { event.preventDefault(); focusAt(index + 1); }
      else if (event.key === "ArrowUp") {
        event.preventDefault();
        if (index === 0 && box) box.focus(); else focusAt(index - 1);
      }
      else if (event.key === "Home") { event.preventDefault(); focusAt(0); }
      else if (event.key === "End") { event.preventDefault(); focusAt(links.length - 1); }
    });
    var box = searchBox();
    if (box) {
      box.addEventListener("keydown", function (event) {
        if (event.key === "ArrowDown") { event.preventDefault(); focusAt(current); }
      });
    }
  }

  function focusables(form) {
    return Array.prototype.filter.call(
      form.querySelectorAll("input, select, textarea, button"),
      function (el) { return !el.disabled && el.type !== "hidden" && !el.hidden && el.tabIndex >= 0; }
    );
  }

  function setupScanFields() {
    document.querySelectorAll("[data-till-scan]").forEach(function (field) {
      field.addEventListener("keydown", function (event) {
        if (event.key !== "Enter" || !field.value.trim() || !field.form) return;
        event.preventDefault();  // a scanner's Enter: go on with the form
        var all = focusables(field.form);
        var next = all[all.indexOf(field) + 1];
        if (next) next.focus();
      });
    });
  }

  function setupPrint() {
    var button = document.querySelector("[data-till-print]");
    if (!button || typeof window.print !== "function") return;
    button.hidden = false;
    var hint = document.querySelector("[data-till-print-hint]");
    if (hint) hint.hidden = true;
    button.addEventListener("click", function () { window.print(); });
  }

  function loadScript(src) {
    return new Promise(function (resolve, reject) {
      var script = document.createElement("script");
      script.src = src;
      script.onload = resolve;
      script.onerror = function () { reject(new Error("could not load " + src)); };
      document.head.appendChild(script);
    });
  }

  var detectorPromise = null;

  /* A BarcodeDetector: the browser's when it reads EAN-13, else the ponyfill
     with its .wasm from our static files. */
  function makeDetector(dialog) {
    if (detectorPromise) return detectorPromise;
    detectorPromise = (async function () {
      if ("BarcodeDetector" in window) {
        try {
          var supported = await window.BarcodeDetector.getSupportedFormats();
          if (supported.indexOf("ean_13") >= 0) {
            return new window.BarcodeDetector({
              formats: FORMATS.filter(function (f) { return supported.indexOf(f) >= 0; }),
            });
          }
        } catch (error) { /* fall back to the ponyfill */ }
      }
      if (!window.BarcodeDetectionAPI) await loadScript(dialog.dataset.ponyfill);
      var api = window.BarcodeDetectionAPI;
      var wasm = new URL(dialog.dataset.wasm, window.location.href).href;
      api.prepareZXingModule({
        overrides: {
          locateFile: function (path, prefix) { return path.endsWith(".wasm") ? wasm : prefix + path; },
        },
      });
      return new api.BarcodeDetector({ formats: FORMATS });
    })();
    detectorPromise.catch(function () { detectorPromise = null; });
    return detectorPromise;
  }

  function setupCamera() {
    var buttons = document.querySelectorAll("[data-till-camera]");
    var dialog = document.getElementById("till-camera");
    if (!dialog) return;
    window.TillCamera = { makeDetector: function () { return makeDetector(dialog); } };  // for tests
    if (!buttons.length || !(navigator.mediaDevices && navigator.mediaDevices.getUserMedia) || typeof dialog.showModal !== "function") {
      return;
    }
    var video = dialog.querySelector("video");
    var status = dialog.querySelector("[data-camera-status]");
    var noAccess = dialog.querySelector("[data-camera-no-access]");
    var stream = null;
    var running = false;
    var target = null;

    function stop() {
      running = false;
      if (stream) stream.getTracks().forEach(function (track) { track.stop(); });
      stream = null;
      video.srcObject = null;
    }

    function close() {
      stop();
      if (dialog.open) dialog.close();
    }

    dialog.addEventListener("close", function () {
      stop();
      if (target) target.focus();
    });
    dialog.querySelector("[data-camera-close]").addEventListener("click", close);

    async function scanLoop(detector, form) {
      while (running) {
        try {
          if (video.readyState >= 2) {
            var codes = await detector.detect(video);
            if (codes.length && codes[0].rawValue) {
              target.value = codes[0].rawValue.trim();
              close();
              if (form.requestSubmit) form.requestSubmit(); else form.submit();
              return;
            }
          }
        } catch (error) { /* a frame that could not be read: try the next */ }
        await new Promise(function (resolve) { setTimeout(resolve, 150); });
      }
    }

    async function open(form) {
      target = form.querySelector("input[type=search]");
      noAccess.classList.add("d-none");
      status.classList.remove("d-none");
      video.hidden = false;
      dialog.showModal();
      try {
        var detector = await makeDetector(dialog);
        stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false });
        video.srcObject = stream;
        await video.play();
        running = true;
        scanLoop(detector, form);
      } catch (error) {
        stop();
        video.hidden = true;
        status.classList.add("d-none");
        noAccess.classList.remove("d-none");
      }
    }

    buttons.forEach(function (button) {
      button.hidden = false;
      button.addEventListener("click", function () { open(button.closest("form")); });
    });
  }

  function ready() {
    setupResults();
    setupScanFields();
    setupPrint();
    setupCamera();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", ready);
  else ready();
})();
