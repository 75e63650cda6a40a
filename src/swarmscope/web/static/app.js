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
