// metricx web app: the little script the pages need on top of htmx.
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  var COLORS = ["#4f46e5", "#0ea5e9", "#f59e0b", "#10b981", "#ef4444", "#8b5cf6"];
  var SYMBOLS = { USD: "$", EUR: "€", GBP: "£", JPY: "¥", INR: "₹" };
  var charts = [];
  var LAST_LABEL_ROOM = 48;

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
    var data = JSON.parse(source.getAttribute("data-chart") || "{}");
    if (!data.labels || !data.labels.length) {
      holder.innerHTML = '<p class="muted chart-empty">No data in this range yet.</p>';
      return;
    }
    var xs = data.labels.map(function (_, i) { return i; });
    var series = [{ label: "Time", value: function (u, i) { return i == null ? "" : data.labels[i]; } }];
    var columns = [xs];
    // An overlaid earlier period is dashed, in the colour of its currency's current line.
    var current = data.series.filter(function (s) { return !s.compare; });
    function colour(s, i) {
      if (!s.compare) return COLORS[i % COLORS.length];
      for (var j = 0; j < current.length; j++) {
        if (current[j].currency === s.currency) return COLORS[j % COLORS.length];
      }
      return COLORS[i % COLORS.length];
    }
    data.series.forEach(function (s, i) {
      series.push({
        label: s.label,
        stroke: colour(s, i),
        width: s.compare ? 1.5 : 2,
        dash: s.compare ? [6, 4] : undefined,
        fill: current.length === 1 && !s.compare ? "rgba(79,70,229,0.08)" : undefined,
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
      // Room on the right for the last x label, centred on the plot's edge ("Tue 1 Dec").
      padding: [null, LAST_LABEL_ROOM, null, null],
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

  // Relative times ("5 min ago", "newest hour 1 h 5 min old") tick on an open page: each
  // <time data-relative> is recomputed from its datetime every data-tick-seconds (on the
  // element holding data-now, the server's clock when it rendered: the page counts from it).
  var skew = 0;
  var ticking = null;

  function syncClock() {
    var holder = document.querySelector("[data-now]");
    var server = holder ? Date.parse(holder.getAttribute("data-now")) : NaN;
    skew = isNaN(server) ? 0 : server - Date.now();
  }

  function relativeText(kind, then, now) {
    if (kind === "hour-age") {
      var minutes = Math.floor((now - then - 3600000) / 60000);
      if (minutes <= 0) return "up to the current hour";
      return "newest hour " + (minutes >= 60 ? Math.floor(minutes / 60) + " h " : "") + (minutes % 60) + " min old";
    }
    var seconds = (now - then) / 1000;
    if (seconds < 0) return null; // in the future: the server's words stay
    if (seconds < 60) return "just now";
    if (seconds < 3600) return Math.floor(seconds / 60) + " min ago";
    if (seconds < 48 * 3600) return Math.floor(seconds / 3600) + " h ago";
    return Math.floor(seconds / 86400) + " days ago";
  }

  function tick() {
    var now = Date.now() + skew;
    var times = document.querySelectorAll("time[data-relative]");
    for (var i = 0; i < times.length; i++) {
      var then = Date.parse(times[i].getAttribute("datetime"));
      if (isNaN(then)) continue;
      var text = relativeText(times[i].getAttribute("data-relative"), then, now);
      if (text !== null && times[i].textContent !== text) times[i].textContent = text;
    }
  }

  function scheduleTick() {
    clearTimeout(ticking);
    var holder = document.querySelector("[data-tick-seconds]");
    if (!holder) return;
    var seconds = parseFloat(holder.getAttribute("data-tick-seconds")) || 30;
    ticking = setTimeout(function () { tick(); scheduleTick(); }, seconds * 1000);
  }

  document.addEventListener("change", function (e) {
    var t = e.target;
    if (t && t.hasAttribute && t.hasAttribute("data-autosubmit")) t.form.submit();
  });

  // Enter in the filters' search box: its change event already asks (htmx); the form's own
  // submit would load the whole page on top of it.
  document.addEventListener("submit", function (e) {
    if (e.target && e.target.id === "filters" && window.htmx) e.preventDefault();
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
    syncClock();
    scheduleTick();
  });

  document.addEventListener("DOMContentLoaded", function () {
    drawChart();
    syncClock();
    scheduleTick();
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
