// Almanac: small progressive enhancements. Every page works without this file.
(function () {
  "use strict";

  // Disclosure menus (<details data-menu>): close on Escape and on a click outside,
  // as people expect of a menu; focus goes back to the button on Escape.
  function openMenus() {
    return document.querySelectorAll("details[data-menu][open]");
  }

  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    openMenus().forEach(function (menu) {
      menu.open = false;
      var summary = menu.querySelector("summary");
      if (summary && menu.contains(document.activeElement)) summary.focus();
    });
  });

  document.addEventListener("click", function (event) {
    openMenus().forEach(function (menu) {
      if (!menu.contains(event.target)) menu.open = false;
    });
  });
})();
