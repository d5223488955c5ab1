/* Live character count for the desk's text fields, counted as WeChat Pay counts
   (characters, i.e. code points: [...text].length, like Python's len()). The server
   checks the same rule; this only helps staff see it while typing. */
"use strict";
(function () {
  function update(field, counter) {
    var limit = parseInt(field.getAttribute("data-wxpay-limit"), 10);
    var count = Array.from(field.value.trim()).length;
    counter.textContent = count + " / " + limit;
    counter.classList.toggle("wxpay-over", count > limit);
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("textarea.wxpay-counted").forEach(function (field) {
      var counter = field.parentNode.querySelector(".wxpay-counter");
      if (!counter) {
        counter = document.createElement("div");
        counter.className = "wxpay-counter";
        field.insertAdjacentElement("afterend", counter);
      }
      field.addEventListener("input", function () { update(field, counter); });
      update(field, counter);
    });
  });
})();
