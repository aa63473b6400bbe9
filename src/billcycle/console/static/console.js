// The console's only script besides htmx: a confirmation before a form marked
// data-confirm is sent (Post, Cancel, Delete, Write off, ...).
document.addEventListener("submit", function (event) {
  var message = event.target.getAttribute("data-confirm");
  if (message && !window.confirm(message)) {
    event.preventDefault();
  }
});
