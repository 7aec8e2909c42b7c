// metricx web app: the little script the pages need on top of htmx.
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  var COLORS = ["#4f46e5", "#0ea5e9", "#f59e0b", "#10b981", "#ef4444", "#8b5cf6"];
  var SYMBOLS = { USD: "$", EUR: "€", GBP: "£", JPY: "¥", INR: "₹" };
  var charts = [];

  function compact(v) {
    if (v == null) return "";
    var a = Math.abs(v);
    if (a >= 1e9) return (v / 1e9).toFixed(1) + "B";
    if (a >= 1e6) return (v / 1e6).toFixed(1) + "M";
    if (a >= 1e3) return (v / 1e3).toFixed(1) + "k";
    return Number.isInteger(v) ? String(v) : v.toFixed(2);
  }

  function formatter(kind, currency) {
    return function (v) {
      if (v == null) return "–";
      if (kind === "percent") return (v * 100).toFixed(2) + "%";
      if (kind === "multiple") return v.toFixed(2) + "×";
      if (kind === "money") {
        var digits = currency === "JPY" && Math.abs(v) >= 100 ? 0 : 2;
        var text = v.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
        return (SYMBOLS[currency] || "") + text + (SYMBOLS[currency] ? "" : " " + (currency || ""));
      }
      return v.toLocaleString("en-US", { maximumFractionDigits: 1 });
    };
  }

  function drawChart() {
    charts.forEach(function (c) { c.destroy(); });
    charts = [];
    var holder = document.getElementById("chart");
    var source = document.getElementById("chart-data");
    if (!holder || !source || typeof uPlot === "undefined") return;
    var data = JSON.parse(source.textContent || "{}");
    if (!data.labels || !data.labels.length) {
      holder.innerHTML = '<p class="muted chart-empty">No data in this range yet.</p>';
      return;
    }
    var xs = data.labels.map(function (_, i) { return i; });
    var series = [{ label: "Time", value: function (u, i) { return i == null ? "" : data.labels[i]; } }];
    var columns = [xs];
    data.series.forEach(function (s, i) {
      series.push({
        label: s.label,
        stroke: COLORS[i % COLORS.length],
        width: 2,
        fill: data.series.length === 1 ? "rgba(79,70,229,0.08)" : undefined,
        points: { show: xs.length < 60 },
        spanGaps: false,
        value: (function (f) { return function (u, v) { return f(v); }; })(formatter(data.kind, s.currency)),
      });
      columns.push(s.values);
    });
    var width = holder.clientWidth || 600;
    var height = width < 500 ? 220 : 300;
    var chart = new uPlot({
      width: width,
      height: height,
      series: series,
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: false } },
      axes: [
        {
          stroke: "#5d6479",
          grid: { show: false },
          values: function (u, splits) { return splits.map(function (i) { return data.labels[i] || ""; }); },
          space: width < 500 ? 70 : 90,
        },
        {
          stroke: "#5d6479",
          grid: { stroke: "#eef0f5" },
          values: function (u, splits) { return splits.map(function (v) { return data.kind === "percent" ? (v * 100).toFixed(1) + "%" : compact(v); }); },
          size: 60,
        },
      ],
    }, columns, holder);
    charts.push(chart);
  }

  function resize() {
    var holder = document.getElementById("chart");
    charts.forEach(function (c) {
      var w = holder ? holder.clientWidth : 600;
      c.setSize({ width: w, height: w < 500 ? 220 : 300 });
    });
  }

  function announce(text) {
    var live = document.getElementById("live-status");
    if (live) live.textContent = text;
  }

  function connectEvents() {
    var url = document.body.getAttribute("data-events");
    if (!url || !window.EventSource) return;
    var source = new EventSource(url);
    source.addEventListener("refresh", function () {
      if (window.htmx) window.htmx.trigger(document.body, "metricx:refresh");
      document.body.setAttribute("data-last-refresh", String(Date.now()));
      announce("New data arrived; the page was updated.");
    });
    source.addEventListener("hello", function () { document.body.setAttribute("data-live", "on"); });
  }

  document.addEventListener("change", function (e) {
    var t = e.target;
    if (t && t.hasAttribute && t.hasAttribute("data-autosubmit")) t.form.submit();
  });

  document.addEventListener("click", function (e) {
    var opener = e.target.closest && e.target.closest("[data-open-dialog]");
    if (opener) {
      var dialog = document.getElementById(opener.getAttribute("data-open-dialog"));
      if (dialog && dialog.showModal) { dialog.showModal(); }
    }
  });

  document.addEventListener("htmx:afterSettle", function (e) {
    if (document.getElementById("chart-data")) drawChart();
  });

  document.addEventListener("DOMContentLoaded", function () {
    drawChart();
    connectEvents();
    var timer;
    window.addEventListener("resize", function () { clearTimeout(timer); timer = setTimeout(resize, 150); });
  });
})();

// A failed htmx action (an error answer, or no answer at all) swaps nothing into the page:
// say so in a banner, announced to screen readers (role=alert), until dismissed. The API's
// JSON error envelope carries the message; the Content-Security-Policy allows no inline
// style, so the banner is styled by app.css and shown or hidden with the hidden attribute.
(function () {
  "use strict";
  var UNREACHABLE = "metricx could not be reached. Check your connection and try again.";

  function sentence(text) {
    text = String(text || "").trim();
    if (!text) return "";
    text = text.charAt(0).toUpperCase() + text.slice(1);
    return /[.!?]$/.test(text) ? text : text + ".";
  }

  function problemOf(xhr) {
    var error = null;
    try { error = JSON.parse(xhr.responseText).error; } catch (ignored) { error = null; }
    var message = sentence(error && error.message);
    if (!message) {
      message = xhr.status >= 500
        ? "Something went wrong on our side (error " + xhr.status + "). Try again in a moment."
        : "That did not work (error " + xhr.status + "). Reload the page and try again.";
    }
    return { message: message, reload: !!error && error.code === "csrf_failed" };
  }

  function banner() {
    var box = document.getElementById("action-error");
    if (box) return box;
    box = document.createElement("div");
    box.id = "action-error";
    box.className = "toast toast-error";
    box.setAttribute("role", "alert");
    box.hidden = true;
    var text = document.createElement("p");
    text.className = "toast-text";
    var reload = document.createElement("button");
    reload.type = "button";
    reload.className = "btn btn-small toast-reload";
    reload.textContent = "Reload page";
    reload.addEventListener("click", function () { window.location.reload(); });
    var close = document.createElement("button");
    close.type = "button";
    close.className = "icon-btn toast-close";
    close.setAttribute("aria-label", "Dismiss");
    close.textContent = "\u2715";
    close.addEventListener("click", function () { box.hidden = true; });
    box.appendChild(text);
    box.appendChild(reload);
    box.appendChild(close);
    document.body.appendChild(box);
    return box;
  }

  function show(problem) {
    var box = banner();
    box.querySelector(".toast-reload").hidden = !problem.reload;
    box.querySelector(".toast-text").textContent = problem.message;
    box.hidden = false;
  }

  document.addEventListener("htmx:responseError", function (e) {
    show(problemOf(e.detail.xhr));
  });
  document.addEventListener("htmx:sendError", function () {
    show({ message: UNREACHABLE, reload: false });
  });
  document.addEventListener("keydown", function (e) {
    var box = document.getElementById("action-error");
    if (e.key === "Escape" && box && !box.hidden) box.hidden = true;
  });
})();
