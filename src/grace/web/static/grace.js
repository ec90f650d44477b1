// Grace dashboard: keep each live region fresh by polling its fragment (hand-written, no library).
//
// A live region is <div class="live" data-live="/ui/..." data-every="ms">. Every few seconds its
// fragment is fetched and swapped in when it changed; a region whose content says
// data-final="true" (a finished run) stops polling. The swap waits while the keyboard focus is
// inside the region (someone is typing a reason), and polling pauses while the tab is hidden.
// A swap keeps what the person started: text typed into a field (matched by its id) and an
// opened <details> (by its id, or the action of the form inside it) carry over into the fresh
// copy, so clicking elsewhere on the page never throws a half-typed reason away.
//
// Screen readers hear one short sentence per real change (each fragment's data-announce, read
// out through the page's aria-live announcer), not the whole region again.
//
// Times arrive as absolute UTC <time datetime="..."> (so a fragment only changes when its data
// does); this script shows them relative ("3 min ago"), the absolute time staying in the title.
"use strict";

(function () {
  var note = document.querySelector("[data-live-note]");
  var updated = document.querySelector("[data-updated]");
  var announcer = document.querySelector("[data-announcer]");

  function say(text) {
    if (note && note.textContent !== text) note.textContent = text;
  }

  function span(seconds) {
    if (seconds < 120) return Math.round(seconds) + " s";
    if (seconds < 7200) return Math.round(seconds / 60) + " min";
    if (seconds < 172800) return (seconds / 3600).toFixed(1) + " h";
    return (seconds / 86400).toFixed(1) + " d";
  }

  function relative(root) {
    root.querySelectorAll("time[datetime]").forEach(function (el) {
      var at = Date.parse(el.getAttribute("datetime"));
      if (isNaN(at)) return;
      var seconds = (Date.now() - at) / 1000;
      el.textContent = seconds < 0 ? "in " + span(-seconds) : span(seconds) + " ago";
    });
  }

  function announcement(root) {
    var found = root.querySelector("[data-announce]");
    return found ? found.getAttribute("data-announce") : "";
  }

  function isFinal(root) {
    var first = root.firstElementChild;
    return !!(first && first.getAttribute("data-final") === "true");
  }

  function serialise(html) {
    var holder = document.createElement("template");
    holder.innerHTML = html;
    return holder;
  }

  function detailsKey(el) {
    if (el.id) return "#" + el.id;
    var form = el.querySelector("form[action]");
    return form ? "form " + form.getAttribute("action") : "";
  }

  // What the person changed in ``root``: typed fields and opened <details>.
  function remember(root) {
    var kept = { fields: [], open: [] };
    root.querySelectorAll("input[id], textarea[id]").forEach(function (el) {
      if (el.type === "hidden") return;
      if (el.type === "checkbox" || el.type === "radio") {
        if (el.checked !== el.defaultChecked) kept.fields.push([el.id, "checked", el.checked]);
      } else if (el.value !== el.defaultValue) {
        kept.fields.push([el.id, "value", el.value]);
      }
    });
    root.querySelectorAll("details[open]").forEach(function (el) {
      var key = detailsKey(el);
      if (key) kept.open.push(key);
    });
    return kept;
  }

  function restore(root, kept) {
    kept.fields.forEach(function (field) {
      var el = document.getElementById(field[0]);
      if (el && root.contains(el) && el.type !== "hidden") el[field[1]] = field[2];
    });
    if (!kept.open.length) return;
    root.querySelectorAll("details").forEach(function (el) {
      if (kept.open.indexOf(detailsKey(el)) !== -1) el.open = true;
    });
  }

  function start(region) {
    var url = region.getAttribute("data-live");
    var every = parseInt(region.getAttribute("data-every") || "5000", 10);
    // What the server last sent, as the browser serialises it (before times were made relative).
    var baseline = region.innerHTML;
    var timer = null;

    function schedule(delay) {
      clearTimeout(timer);
      timer = setTimeout(tick, delay);
    }

    function swap(fresh) {
      var before = announcement(region);
      var kept = remember(region);
      region.setAttribute("aria-busy", "true");
      region.replaceChildren(fresh.content);
      restore(region, kept);
      relative(region);
      region.removeAttribute("aria-busy");
      var after = announcement(region);
      if (announcer && after && after !== before) announcer.textContent = after;
    }

    function tick() {
      if (document.hidden) return;
      if (isFinal(region)) return;
      fetch(url, { credentials: "same-origin", headers: { Accept: "*/*" }, cache: "no-store" })
        .then(function (response) {
          if (response.status === 401) {
            say("Your session has ended: reload the page to log in again.");
            return null;
          }
          if (!response.ok) {
            say("Live updates paused (the server answered " + response.status + "); retrying.");
            return null;
          }
          return response.text();
        })
        .then(function (html) {
          if (html === null) return schedule(every * 2);
          say("");
          if (updated) updated.textContent = "Updated " + new Date().toLocaleTimeString();
          var fresh = serialise(html);
          if (fresh.innerHTML !== baseline) {
            if (region.contains(document.activeElement)) return schedule(every);
            baseline = fresh.innerHTML;
            swap(fresh);
          }
          schedule(every);
        })
        .catch(function () {
          say("Grace is unreachable; retrying.");
          schedule(every * 2);
        });
    }

    document.addEventListener("visibilitychange", function () {
      if (!document.hidden) schedule(0);
    });
    schedule(every);
  }

  document.querySelectorAll(".live[data-live]").forEach(start); // baselines first
  relative(document);
  setInterval(function () { relative(document); }, 15000);
})();
