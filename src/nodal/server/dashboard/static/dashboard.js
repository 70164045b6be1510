// Nodal dashboard: keyboard shortcuts, live #live blocks and log following over SSE.
"use strict";

(function () {
  // ---- keyboard: single keys jump between sections; "/" focuses the search box ----
  document.addEventListener("keydown", function (ev) {
    var t = ev.target;
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    if (t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT" || t.isContentEditable)) return;
    if (ev.key === "/") {
      var search = document.querySelector("[data-search]");
      if (search) { ev.preventDefault(); search.focus(); }
      return;
    }
    var link = document.querySelector('nav a[data-key="' + ev.key + '"]');
    if (link) { ev.preventDefault(); window.location.href = link.href; }
  });

  // ---- confirmation for destructive forms ----
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (ev) {
      if (!window.confirm(form.getAttribute("data-confirm"))) ev.preventDefault();
    });
  });

  // ---- live blocks: the server pushes this page's fresh #live block over SSE (same URL,
  // Accept: text/event-stream); without EventSource, re-fetch the page every few seconds ----
  var live = document.getElementById("live");
  var busy = function () {
    // Leave the block alone while a <details> in it is open or focus is inside it.
    return live.querySelector("details[open]") || live.contains(document.activeElement);
  };
  if (live && live.dataset.live && window.EventSource) {
    var waiting = null;
    var apply = function () {
      if (waiting === null || busy()) return;
      var t = document.createElement("template");
      t.innerHTML = waiting;
      waiting = null;
      live.replaceChildren(t.content);
      live.dispatchEvent(new CustomEvent("nodal:updated", { bubbles: true }));
    };
    var feed = new EventSource(window.location.href);
    feed.addEventListener("html", function (ev) { waiting = JSON.parse(ev.data); apply(); });
    feed.addEventListener("gone", function () { feed.close(); });
    feed.addEventListener("end", function () { feed.close(); });
    live.addEventListener("toggle", apply, true);  // a <details> closed: show what came meanwhile
    live.addEventListener("focusout", function () { window.setTimeout(apply, 0); });
    window.addEventListener("pagehide", function () { feed.close(); });
  } else if (live && live.dataset.refresh) {
    var seconds = Math.max(2, parseInt(live.dataset.refresh, 10) || 5);
    var refresh = function () {
      if (document.hidden || busy()) return;
      fetch(window.location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (text) {
          if (!text) return;
          var doc = new DOMParser().parseFromString(text, "text/html");
          var fresh = doc.getElementById("live");
          if (fresh) live.replaceChildren.apply(live, Array.prototype.slice.call(fresh.childNodes));
        })
        .catch(function () { /* the server restarted or the network dropped: try again next tick */ });
    };
    window.setInterval(refresh, seconds * 1000);
  }

  // ---- logs: follow over server-sent events ----
  var box = document.getElementById("logbox");
  if (box && box.dataset.stream && window.EventSource) {
    var body = document.getElementById("loglines");
    var status = document.getElementById("log-status");
    var follow = document.getElementById("follow");
    var maxRows = 5000;
    var fmt = function (t) {
      var d = new Date(t * 1000);
      var p = function (n) { return (n < 10 ? "0" : "") + n; };
      return d.getFullYear() + "-" + p(d.getMonth() + 1) + "-" + p(d.getDate()) + " " +
        p(d.getHours()) + ":" + p(d.getMinutes()) + ":" + p(d.getSeconds());
    };
    var cell = function (cls, text) {
      var td = document.createElement("td");
      td.className = cls;
      td.textContent = text;
      return td;
    };
    var url = box.dataset.stream;
    var lastT = null;
    var source = null;
    var open = function () {
      var u = url;
      if (lastT !== null) u = u.replace(/since=[^&]*/, "since=" + (lastT + 0.000001));
      source = new EventSource(u);
      source.addEventListener("logs", function (ev) {
        var rows = JSON.parse(ev.data);
        var frag = document.createDocumentFragment();
        rows.forEach(function (e) {
          var tr = document.createElement("tr");
          tr.className = e.stream;
          tr.appendChild(cell("t", fmt(e.t)));
          tr.appendChild(cell("f", e.function));
          tr.appendChild(cell("d", e.data));
          frag.appendChild(tr);
          lastT = e.t;
        });
        body.appendChild(frag);
        while (body.rows.length > maxRows) body.deleteRow(0);
        if (!follow || follow.checked) box.scrollTop = box.scrollHeight;
      });
      source.addEventListener("end", function () {
        source.close();
        status.textContent = "The app stopped: no more lines will come.";
      });
      source.onopen = function () { status.textContent = "Following live…"; };
      source.onerror = function () {
        // Reconnect from the last line seen, so nothing is shown twice.
        source.close();
        status.textContent = "Reconnecting…";
        window.setTimeout(open, 3000);
      };
    };
    open();
    box.scrollTop = box.scrollHeight;
  }
})();
