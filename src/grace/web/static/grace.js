// Grace dashboard: refresh each live region by polling its fragment (hand-written, no library).
//
// A live region is <div class="live" data-live="/ui/..." data-every="ms">. Every few seconds
// its fragment is fetched and swapped in when it changed. The swap waits while the keyboard
// focus is inside the region (someone is typing a reason), polling pauses while the tab is
// hidden, and a region whose content says data-final="true" (a finished run) stops polling.
"use strict";

(function () {
  var note = document.querySelector("[data-live-note]");
  var updated = document.querySelector("[data-updated]");

  function say(text) {
    if (note && note.textContent !== text) note.textContent = text;
  }

  function isFinal(region) {
    var first = region.firstElementChild;
    return !!(first && first.getAttribute("data-final") === "true");
  }

  function start(region) {
    var url = region.getAttribute("data-live");
    var every = parseInt(region.getAttribute("data-every") || "5000", 10);
    var timer = null;

    function schedule(delay) {
      clearTimeout(timer);
      timer = setTimeout(tick, delay);
    }

    function tick() {
      if (document.hidden) return schedule(every);
      if (isFinal(region)) return;
      if (region.contains(document.activeElement) && document.activeElement !== region) {
        return schedule(every);
      }
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
          // Compare as the browser serialises both, so an unchanged region is left alone
          // (screen readers hear only real changes).
          var fresh = document.createElement("template");
          fresh.innerHTML = html;
          if (fresh.innerHTML !== region.innerHTML && !region.contains(document.activeElement)) {
            region.setAttribute("aria-busy", "true");
            region.replaceChildren(fresh.content);
            region.removeAttribute("aria-busy");
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

  document.querySelectorAll(".live[data-live]").forEach(start);
})();
