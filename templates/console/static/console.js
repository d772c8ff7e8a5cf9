// Kinkyu console: deadline countdowns and the live timeline (no inline script: the CSP forbids it).
"use strict";
(function () {
  var lang = document.documentElement.lang === "en" ? "en" : "ja";

  function left(ms) {
    var late = ms < 0;
    var s = Math.floor(Math.abs(ms) / 1000);
    var d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
    var text;
    if (lang === "en") {
      text = (d ? d + "d " : "") + (d || h ? h + "h " : "") + m + "m";
      return late ? "overdue by " + text : text + " left";
    }
    text = (d ? d + "日" : "") + (d || h ? h + "時間" : "") + m + "分";
    return late ? text + "超過" : "残り" + text;
  }

  function tick() {
    var now = Date.now();
    document.querySelectorAll("time.countdown[datetime]").forEach(function (el) {
      var due = Date.parse(el.getAttribute("datetime"));
      if (isNaN(due)) { return; }
      el.textContent = left(due - now);
      el.title = el.getAttribute("datetime");
      var row = el.closest("tr");
      if (row && due <= now) { row.classList.add("overdue"); row.setAttribute("data-overdue", "1"); }
    });
  }

  function timeline() {
    var section = document.getElementById("timeline");
    if (!section) { return; }
    var list = section.querySelector("ol");
    var url = section.getAttribute("data-source");
    function poll() {
      fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (body) {
          if (!body || !body.entries) { return; }
          var known = {};
          list.querySelectorAll("li[data-key]").forEach(function (li) { known[li.getAttribute("data-key")] = true; });
          body.entries.forEach(function (e) {
            if (known[e.key]) { return; }
            var li = document.createElement("li");
            li.setAttribute("data-kind", e.kind);
            li.setAttribute("data-key", e.key);
            li.className = "new";
            var t = document.createElement("time");
            t.setAttribute("datetime", e.ts);
            t.textContent = e.at;
            li.appendChild(t);
            [["who", e.who], ["kind", e.label || e.kind], ["what", e.what]].forEach(function (p) {
              li.appendChild(document.createTextNode(" "));
              var span = document.createElement("span");
              span.className = p[0];
              span.textContent = p[1];
              li.appendChild(span);
            });
            list.appendChild(li);
          });
        })
        .catch(function () { /* the next poll tries again */ })
        .then(function () { window.setTimeout(poll, 2000); });
    }
    window.setTimeout(poll, 2000);
  }

  function filed() {
    var box = document.getElementById("filed");
    if (!box || document.getElementById("filed-incident")) { return; }
    var url = box.getAttribute("data-source");
    function poll() {
      fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (body) {
          if (body && body.incident_id) {
            var p = document.createElement("p");
            var a = document.createElement("a");
            a.id = "filed-incident";
            a.href = "/incidents/" + encodeURIComponent(body.incident_id);
            a.textContent = box.getAttribute("data-open-text").replace("__ID__", body.incident_id);
            p.appendChild(a);
            box.textContent = "";
            box.appendChild(p);
            return true;
          }
          return false;
        })
        .catch(function () { return false; })
        .then(function (done) { if (!done) { window.setTimeout(poll, 1000); } });
    }
    window.setTimeout(poll, 1000);
  }

  document.addEventListener("DOMContentLoaded", function () {
    tick();
    window.setInterval(tick, 1000);
    timeline();
    filed();
  });
})();
