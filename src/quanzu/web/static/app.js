// Quanzu pages: live updates over server-sent events, SLA countdowns, alerts, and htmx glue.
(function () {
  "use strict";
  var csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

  // Errors (409, 422, 403…) arrive as small HTML fragments: show them in the toast instead of
  // replacing the page part the user was working in.
  document.body.addEventListener("htmx:beforeSwap", function (evt) {
    if (evt.detail.xhr.status >= 400) {
      evt.detail.shouldSwap = false;
      toast(evt.detail.serverResponse, true);
    } else if (evt.detail.requestConfig && evt.detail.requestConfig.verb === "get" &&
               evt.detail.target && evt.detail.target.id === "case-panel" && editing(evt.detail.target)) {
      // A live refresh of the case must not throw away what the officer is entering; their own
      // submit brings back the fresh panel.
      evt.detail.shouldSwap = false;
    } else if (evt.detail.requestConfig && evt.detail.requestConfig.verb === "get" && evt.detail.target) {
      keepFreshFlash(evt.detail.target);
    }
  });
  document.body.addEventListener("htmx:afterSwap", function (evt) {
    restoreFlash(evt.detail.target);
  });
  document.body.addEventListener("htmx:afterRequest", function (evt) {
    var elt = evt.detail.elt;
    if (evt.detail.successful && elt && elt.hasAttribute && elt.hasAttribute("data-refresh")) {
      htmx.trigger(document.body, "quanzu:changed");
    }
  });
  document.body.addEventListener("htmx:configRequest", function (evt) {
    evt.detail.headers["X-CSRF-Token"] = csrf;
  });

  // Someone is working in the panel: a section is open, a field has focus or differs from its default.
  function editing(panel) {
    if (!panel) return false;
    if (panel.querySelector("details[open]")) return true;
    var active = document.activeElement;
    if (active && panel.contains(active) && /^(INPUT|TEXTAREA|SELECT)$/.test(active.tagName)) return true;
    return Array.prototype.some.call(panel.querySelectorAll("input, textarea, select"), function (f) {
      if (f.tagName === "SELECT") {
        var initial = 0;
        for (var i = 0; i < f.options.length; i++) { if (f.options[i].defaultSelected) { initial = i; break; } }
        return f.selectedIndex !== initial;
      }
      return f.type !== "hidden" && f.value !== f.defaultValue;
    });
  }

  // The officer's own action answers with a confirmation, and the same commit announces a live
  // event that refreshes the panel a moment later: keep a confirmation younger than FLASH_MS
  // through that refresh so it does not vanish before it is read.
  var FLASH_MS = 10000, keptFlash = {};
  function keepFreshFlash(target) {
    var flash = target.id && target.querySelector(".flash[data-shown]");
    if (flash && Date.now() - Number(flash.dataset.shown) < FLASH_MS) keptFlash[target.id] = flash;
  }
  function restoreFlash(target) {
    var id = target && target.id, home = id && document.getElementById(id);
    if (home && keptFlash[id] && !home.querySelector(".flash")) home.insertBefore(keptFlash[id], home.firstChild);
    if (id) delete keptFlash[id];
    markFlashes();
  }
  function markFlashes() {
    document.querySelectorAll(".flash:not([data-shown])").forEach(function (f) { f.dataset.shown = String(Date.now()); });
  }
  document.addEventListener("DOMContentLoaded", markFlashes);

  function toast(html, isError) {
    var box = document.getElementById("toast");
    if (!box) return;
    box.innerHTML = "";
    var div = document.createElement("div");
    div.className = isError ? "toast error" : "toast";
    // Server fragments are escaped by the templates; plain text is set as text.
    if (html && html.indexOf("<") === 0) { div.innerHTML = html; } else { div.textContent = html; }
    box.appendChild(div);
    setTimeout(function () { if (div.parentNode) div.parentNode.removeChild(div); }, 8000);
  }

  // Countdowns to each SLA deadline, updated every second.
  function tick() {
    var now = Date.now();
    document.querySelectorAll(".countdown[data-due]").forEach(function (el) {
      var left = Math.round((Date.parse(el.dataset.due) - now) / 1000);
      var label = el.dataset.label || (el.dataset.label = el.textContent.trim());
      var abs = Math.abs(left), d = Math.floor(abs / 86400), h = Math.floor(abs % 86400 / 3600);
      var m = Math.floor(abs % 3600 / 60), s = abs % 60, pad = function (n) { return (n < 10 ? "0" : "") + n; };
      var clock = (left < 0 ? "-" : "") + (d ? d + "d " : "") + (d || h ? h + ":" + pad(m) : m) + ":" + pad(s);
      el.textContent = (label ? label + " " : "") + clock;
      el.classList.toggle("late", left < 0);
      el.classList.toggle("soon", left >= 0 && left < 120);
    });
  }
  setInterval(tick, 1000);
  document.addEventListener("DOMContentLoaded", tick);
  document.body.addEventListener("htmx:afterSettle", tick);

  // A short beep made here (no sound file to fetch), and the browser's notification if allowed.
  function beep() {
    try {
      var ctx = new (window.AudioContext || window.webkitAudioContext)();
      var osc = ctx.createOscillator(), gain = ctx.createGain();
      osc.frequency.value = 880; gain.gain.value = 0.2;
      osc.connect(gain); gain.connect(ctx.destination);
      osc.start(); osc.stop(ctx.currentTime + 0.35);
    } catch (e) { /* no audio device */ }
  }
  function notify(event) {
    if ("Notification" in window && Notification.permission === "granted") {
      try { new Notification(event.title, { body: event.body, tag: "case-" + event.case_id }); } catch (e) {}
    }
  }
  var enable = document.getElementById("enable-alerts");
  if (enable && "Notification" in window) {
    enable.addEventListener("click", function () { Notification.requestPermission(); beep(); });
  }

  // Live: every notification for me arrives the moment it commits; the lists refresh themselves.
  if (document.querySelector("main[data-live]") && window.EventSource) {
    var source = new EventSource("/api/v1/events");
    var onEvent = function (msg) {
      var event = JSON.parse(msg.data);
      document.body.dataset.lastEvent = event.type + ":" + event.case_id;
      htmx.trigger(document.body, "quanzu:changed");
      if (event.case_id) htmx.trigger(document.body, "quanzu:case-" + event.case_id);
      if (event.title) toast(event.title, false);  // case.changed only asks for a refresh
      if (event.type === "case.dispatched" || event.type === "case.escalated" || event.type === "case.merged") {
        beep(); notify(event);
      }
    };
    ["case.dispatched", "case.merged", "case.escalated", "case.assigned", "case.handover", "case.triage",
     "case.takeover", "case.cohandle", "case.changed", "help.requested", "help.answered"].forEach(function (t) { source.addEventListener(t, onEvent); });
  }
})();
