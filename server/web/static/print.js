// The print button of the case file. A file of its own: the pages' Content-Security-Policy
// runs no inline script (see server/security.py).
document.getElementById("print-button").addEventListener("click", function () {
  window.print();
});
