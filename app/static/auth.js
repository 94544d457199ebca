// Account page: a "Copy" button for a freshly created API token. Without
// JavaScript the value stays selectable in its read-only field.
(function () {
  "use strict";

  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    var field = document.getElementById(button.getAttribute("data-copy"));
    if (!field || !navigator.clipboard) return;
    button.hidden = false;
    button.addEventListener("click", function () {
      navigator.clipboard.writeText(field.value).then(
        function () {
          button.textContent = "Copied";
        },
        function () {
          field.select();
        }
      );
    });
  });

  document.querySelectorAll("input[readonly].input-code").forEach(function (field) {
    field.addEventListener("focus", function () {
      field.select();
    });
  });
})();
