// swarmscope console: the only script besides htmx (the CSP allows scripts from this origin only).
// Every htmx request carries the session's CSRF token in the X-CSRF-Token header.
document.addEventListener("htmx:configRequest", function (event) {
  var meta = document.querySelector('meta[name="csrf-token"]');
  if (meta) {
    event.detail.headers["X-CSRF-Token"] = meta.getAttribute("content");
  }
});
// Buttons that ask before acting carry data-confirm="question" (no inline onclick under the CSP).
document.addEventListener("submit", function (event) {
  var button = event.submitter;
  var question = (button && button.getAttribute("data-confirm")) || event.target.getAttribute("data-confirm");
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
});
// Live regions (data-live: the polled tables of /swarms and a swarm's page). WCAG 2.2.2 (Pause, Stop,
// Hide) and 2.4.3 (Focus Order): a poll is skipped while updates are paused (the page's "Pause live
// updates" toggle, aria-pressed) or while keyboard focus or a text selection is inside the region, and
// an answer whose data-digest equals the shown one (same content, only the time moved) is not swapped:
// only its "as of" time is copied. So focus, selection and a screen reader's place stay put.
var liveState = { paused: false };
function liveHeld(region) {
  if (liveState.paused) {
    return true;
  }
  if (region.contains(document.activeElement) && document.activeElement !== region) {
    return true;
  }
  var selection = window.getSelection();
  return !!(selection && !selection.isCollapsed &&
    (region.contains(selection.anchorNode) || region.contains(selection.focusNode)));
}
function liveStatus(text) {
  document.querySelectorAll(".live-status").forEach(function (status) {
    if (status.textContent !== text) {
      status.textContent = text;
    }
  });
}
document.addEventListener("htmx:beforeRequest", function (event) {
  var region = event.detail.elt;
  if (region && region.hasAttribute && region.hasAttribute("data-live") && liveHeld(region)) {
    event.preventDefault();
  }
});
document.addEventListener("htmx:beforeSwap", function (event) {
  var region = event.detail.target;
  if (!region || !region.hasAttribute || !region.hasAttribute("data-live") || !event.detail.shouldSwap) {
    return;
  }
  var answer = String(event.detail.serverResponse || "");
  var digest = /data-digest="([0-9a-f]+)"/.exec(answer);
  if (liveHeld(region) || (digest && digest[1] === region.getAttribute("data-digest"))) {
    event.detail.shouldSwap = false;
    var time = /<span class="as-of">([^<]*)<\/span>/.exec(answer);
    var shown = region.querySelector(".as-of");
    if (time && shown && !liveHeld(region)) {
      shown.textContent = time[1];
    }
  }
});
document.addEventListener("click", function (event) {
  var toggle = event.target.closest ? event.target.closest(".live-toggle") : null;
  if (!toggle) {
    return;
  }
  liveState.paused = !liveState.paused;
  document.querySelectorAll(".live-toggle").forEach(function (button) {
    button.setAttribute("aria-pressed", liveState.paused ? "true" : "false");
  });
  liveStatus(liveState.paused ? "Live updates paused: press the button again to resume." : "Live updates on.");
});
function liveFocusNote() {
  if (liveState.paused) {
    return;
  }
  var inside = Array.prototype.some.call(document.querySelectorAll("[data-live]"), function (region) {
    return region.contains(document.activeElement);
  });
  liveStatus(inside ? "Live updates held while the focus is in the table." : "Live updates on.");
}
document.addEventListener("focusin", liveFocusNote);
document.addEventListener("focusout", function () {
  window.setTimeout(liveFocusNote, 0);
});
