// The segment editor: rows of conditions added and removed in place, each row
// showing the operators and the kind of value its field takes, and a live
// count of the members ("N members", in an aria-live region) while editing.
// Without this script the form still works: "Add a condition" and "Count
// members" post the form back, and a ticked "Remove" drops a row on saving.
(function () {
  "use strict";
  var form = document.getElementById("segment-form");
  var specNode = document.getElementById("segment-builder-spec");
  if (!form || !specNode) return;
  var SPEC = JSON.parse(specNode.textContent);
  var textsNode = document.getElementById("segment-builder-texts");
  var TEXTS = textsNode ? JSON.parse(textsNode.textContent) : {};
  var rows = document.getElementById("segment-rows");
  var template = document.getElementById("segment-row-template");
  var addButton = document.getElementById("segment-add");
  var countButton = document.getElementById("segment-count-button");
  var status = document.getElementById("segment-count");
  var total = form.querySelector('input[name$="-TOTAL_FORMS"]');
  var maxRows = form.querySelector('input[name$="-MAX_NUM_FORMS"]');
  var PLACEHOLDERS = { date: "YYYY-MM-DD", days: "30", count: "5", money: "100.00", fraction: "0.7" };

  function part(row, name) {
    return row.querySelector('[data-part="' + name + '"]');
  }

  function select(row, suffix) {
    return row.querySelector('select[name$="-' + suffix + '"]');
  }

  // Show the operators, value box and options that the row's field uses.
  function updateRow(row) {
    var field = select(row, "field").value;
    var op = select(row, "op");
    var spec = SPEC[field];
    Array.prototype.forEach.call(op.options, function (option) {
      var hide = !!spec && option.value !== "" && spec.ops.indexOf(option.value) === -1;
      option.hidden = hide;
      option.disabled = hide;
    });
    if (spec && spec.ops.indexOf(op.value) === -1) op.value = spec.ops[0];
    var kind = spec ? spec.kinds[op.value] : "";
    var choosing = !!(spec && spec.prefix);
    part(row, "value").hidden = choosing;
    part(row, "choices").hidden = !choosing;
    var value = row.querySelector('input[name$="-value"]');
    value.placeholder = PLACEHOLDERS[kind] || "";
    var choices = select(row, "choices");
    Array.prototype.forEach.call(choices.querySelectorAll("option"), function (option) {
      var mine = choosing && option.value.indexOf(spec.prefix + ":") === 0;
      option.hidden = !mine;
      if (!mine) option.selected = false;
    });
    Array.prototype.forEach.call(choices.querySelectorAll("optgroup"), function (group) {
      group.hidden = !group.querySelector("option:not([hidden])");
    });
    var help = part(row, "help");
    help.textContent = spec ? spec.help : "";
    // The general help texts are for the page without script: the value and the
    // options are described by the chosen field's help instead.
    Array.prototype.forEach.call(row.querySelectorAll(".form-text:not([data-part])"), function (node) {
      node.hidden = true;
    });
    [value, choices].forEach(function (control) {
      control.setAttribute("aria-describedby", help.id);
    });
  }

  function visibleRows() {
    return Array.prototype.filter.call(rows.querySelectorAll("[data-row]"), function (row) {
      return !row.hidden;
    });
  }

  function renumber() {
    visibleRows().forEach(function (row, index) {
      row.querySelector("[data-row-number]").textContent = String(index + 1);
      var remove = row.querySelector("[data-remove]");
      if (remove) remove.querySelector(".visually-hidden").textContent = " " + (index + 1);
    });
  }

  function setUp(row) {
    var box = part(row, "delete");
    var checkbox = box.querySelector('input[type="checkbox"]');
    box.hidden = true;
    // A row removed before the form came back (a failed save) stays removed.
    if (checkbox.checked) row.hidden = true;
    var remove = document.createElement("button");
    remove.type = "button";
    remove.className = "btn btn-sm btn-outline-danger mt-2";
    remove.setAttribute("data-remove", "");
    remove.textContent = TEXTS.remove || "Remove";
    var which = document.createElement("span");
    which.className = "visually-hidden";
    remove.appendChild(which);
    remove.addEventListener("click", function () {
      checkbox.checked = true;
      row.hidden = true;
      renumber();
      addButton.focus();
      scheduleCount();
    });
    box.parentNode.appendChild(remove);
    select(row, "field").addEventListener("change", function () { updateRow(row); });
    select(row, "op").addEventListener("change", function () { updateRow(row); });
    updateRow(row);
  }

  addButton.addEventListener("click", function (event) {
    event.preventDefault();
    var index = parseInt(total.value, 10) || 0;
    if (maxRows && index >= parseInt(maxRows.value, 10)) return;
    var html = template.innerHTML.replace(/__prefix__/g, String(index)).replace(/__num__/g, String(index + 1));
    var holder = document.createElement("div");
    holder.innerHTML = html.trim();
    var row = holder.firstElementChild;
    rows.appendChild(row);
    total.value = String(index + 1);
    setUp(row);
    renumber();
    select(row, "field").focus();
  });

  // -- the live count -------------------------------------------------------
  var timer = null;
  var pending = null;

  function scheduleCount() {
    if (timer) clearTimeout(timer);
    timer = setTimeout(count, 400);
  }

  function count() {
    timer = null;
    if (pending) pending.abort();
    pending = new AbortController();
    var body = new FormData(form);
    body.delete("add");
    body.delete("count");
    status.setAttribute("aria-busy", "true");
    fetch(form.getAttribute("data-count-url"), {
      method: "POST", body: body, credentials: "same-origin", signal: pending.signal,
      headers: { "X-Requested-With": "fetch" },
    })
      .then(function (response) { return response.json(); })
      .then(function (data) {
        status.textContent = data.text || TEXTS.fix || "";
        status.removeAttribute("aria-busy");
      })
      .catch(function (error) {
        if (error.name === "AbortError") return;
        status.textContent = TEXTS.failed || "";
        status.removeAttribute("aria-busy");
      });
  }

  countButton.addEventListener("click", function (event) {
    event.preventDefault();
    count();
  });
  form.addEventListener("input", function (event) {
    if (event.target.name === "name" || event.target.name === "description") return;
    scheduleCount();
  });
  form.addEventListener("change", function (event) {
    if (event.target.name === "name" || event.target.name === "description") return;
    scheduleCount();
  });

  Array.prototype.forEach.call(rows.querySelectorAll("[data-row]"), setUp);
  renumber();
  count();
})();
