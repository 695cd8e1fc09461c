/* The KPI dashboard's charts: each <canvas data-chart="ID"> is drawn with the
   vendored Chart.js from the JSON payload in <script id="ID"> (json_script).
   The server sends every label already translated; numbers are formatted
   here in the page's language (<html lang>) with Intl.NumberFormat. Every
   chart has a table of the same numbers beside it, so nothing is lost
   without JavaScript.

   Payload: {type: "line" | "bar" | "stacked-bar" | "doughnut", title, labels,
   currency, palette, datasets: [{label, kind, data}]}, kind being "count",
   "points", "money", "rate" (0..1) or "score". Datasets of a second kind get
   their own axis on the right. Lines differ by dash and point style as well
   as colour. */
(function () {
  "use strict";

  if (!window.Chart) return;
  var lang = document.documentElement.lang || "en";
  var reduceMotion = window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches;
  var DASHES = [[], [8, 4], [2, 3], [12, 4, 2, 4], [4, 4], [1, 3]];
  var POINTS = ["circle", "rect", "triangle", "rectRot", "crossRot", "star"];

  function formatter(kind, currency) {
    try {
      if (kind === "money") return new Intl.NumberFormat(lang, { style: "currency", currency: currency });
      if (kind === "rate") return new Intl.NumberFormat(lang, { style: "percent", maximumFractionDigits: 1 });
      if (kind === "score") return new Intl.NumberFormat(lang, { maximumFractionDigits: 1 });
      return new Intl.NumberFormat(lang, { maximumFractionDigits: 2 });
    } catch (error) {
      return new Intl.NumberFormat();
    }
  }

  function kindsOf(spec) {
    var kinds = [];
    spec.datasets.forEach(function (dataset) {
      if (kinds.indexOf(dataset.kind) < 0) kinds.push(dataset.kind);
    });
    return kinds;
  }

  function config(spec) {
    var palette = spec.palette && spec.palette.length ? spec.palette : ["#0072B2"];
    var kinds = kindsOf(spec);
    var formats = {};
    kinds.forEach(function (kind) { formats[kind] = formatter(kind, spec.currency); });
    var round = spec.type === "doughnut";
    var stacked = spec.type === "stacked-bar";
    var line = spec.type === "line";
    var few = spec.labels.length <= 12 && !line;

    var datasets = spec.datasets.map(function (dataset, index) {
      var colour = palette[index % palette.length];
      var item = {
        label: dataset.label,
        data: dataset.data,
        kind: dataset.kind,
        borderColor: round ? "#ffffff" : colour,
        backgroundColor: round ? spec.labels.map(function (_, i) { return palette[i % palette.length]; }) : colour,
      };
      if (!round) item.yAxisID = kinds.indexOf(dataset.kind) === 0 ? "y" : "y1";
      if (line) {
        item.borderDash = DASHES[index % DASHES.length];
        item.pointStyle = POINTS[index % POINTS.length];
        item.pointRadius = spec.labels.length > 40 ? 0 : 3;
        item.borderWidth = 2;
        item.spanGaps = false;
        item.fill = false;
      }
      if (round) item.borderWidth = 2;
      return item;
    });

    function tooltipLabel(context) {
      var kind = context.dataset.kind;
      var value = context.parsed && typeof context.parsed === "object" ? context.parsed.y : context.parsed;
      if (value === null || value === undefined) return context.dataset.label + ": –";
      return (round ? context.label : context.dataset.label) + ": " + formats[kind].format(value);
    }

    var options = {
      locale: lang,
      responsive: true,
      maintainAspectRatio: false,
      animation: reduceMotion ? false : { duration: 300 },
      interaction: round ? undefined : { mode: "index", intersect: false },
      plugins: {
        legend: { position: "bottom", labels: { usePointStyle: line, color: "#212529" } },
        tooltip: { callbacks: { label: tooltipLabel } },
      },
    };
    if (!round) {
      options.scales = {
        // A few categories (tiers, groups) are all named, turned if need be; a long time axis skips some.
        x: {
          stacked: stacked,
          ticks: { color: "#495057", autoSkip: !few, maxRotation: few ? 50 : 0 },
        },
        y: {
          stacked: stacked,
          beginAtZero: true,
          ticks: { color: "#495057", callback: function (value) { return formats[kinds[0]].format(value); } },
        },
      };
      if (kinds.length > 1) {
        options.scales.y1 = {
          position: "right",
          beginAtZero: true,
          stacked: stacked,
          grid: { drawOnChartArea: false },
          ticks: { color: "#495057", callback: function (value) { return formats[kinds[1]].format(value); } },
        };
      }
    }
    return { type: round ? "doughnut" : line ? "line" : "bar", data: { labels: spec.labels, datasets: datasets }, options: options };
  }

  document.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
    var source = document.getElementById(canvas.getAttribute("data-chart"));
    if (!source) return;
    var spec;
    try {
      spec = JSON.parse(source.textContent);
    } catch (error) {
      return;
    }
    if (!spec) return;
    new window.Chart(canvas, config(spec));
    canvas.setAttribute("data-drawn", "true");
  });
})();
