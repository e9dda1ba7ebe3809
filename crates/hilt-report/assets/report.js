// The report's only script: a time cursor over the timelines, a click there
// jumps to that moment in the sequence diagram. It marks the body when it
// ran without an exception, which the browser test reads back.
(function () {
  "use strict";
  window.addEventListener("error", function (event) {
    document.body.setAttribute("data-script", "error: " + event.message);
  });
  function time(micros) {
    var seconds = micros / 1e6;
    if (seconds < 60) return seconds.toFixed(seconds < 10 ? 3 : 1) + "s";
    var minutes = Math.floor(seconds / 60);
    if (minutes < 60) return minutes + "m " + (seconds % 60).toFixed(1) + "s";
    var hours = Math.floor(minutes / 60);
    if (hours < 24) return hours + "h " + (minutes % 60) + "m";
    return Math.floor(hours / 24) + "d " + (hours % 24) + "h " + (minutes % 60) + "m";
  }
  var timeline = document.getElementById("timeline");
  if (timeline) {
    var end = Number(timeline.getAttribute("data-end"));
    var x0 = Number(timeline.getAttribute("data-x0"));
    var x1 = Number(timeline.getAttribute("data-x1"));
    var cursor = document.getElementById("cursor");
    var label = document.getElementById("cursor-time");
    var at = function (event) {
      var box = timeline.getBoundingClientRect();
      var x = (event.clientX - box.left) * (timeline.viewBox.baseVal.width / box.width);
      if (x < x0 || x > x1) return null;
      return { x: x, micros: Math.round((x - x0) / (x1 - x0) * end) };
    };
    timeline.addEventListener("mousemove", function (event) {
      var point = at(event);
      if (!point) {
        cursor.setAttribute("visibility", "hidden");
        label.setAttribute("visibility", "hidden");
        return;
      }
      cursor.setAttribute("x1", point.x);
      cursor.setAttribute("x2", point.x);
      label.setAttribute("x", point.x + 4);
      label.textContent = time(point.micros);
      cursor.setAttribute("visibility", "visible");
      label.setAttribute("visibility", "visible");
    });
    timeline.addEventListener("click", function (event) {
      var point = at(event);
      if (!point) return;
      var rows = document.querySelectorAll("#sequence [data-at]");
      for (var index = 0; index < rows.length; index++) {
        var row = rows[index];
        var to = row.hasAttribute("data-to") ? Number(row.getAttribute("data-to")) : Number(row.getAttribute("data-at"));
        if (to >= point.micros || index === rows.length - 1) {
          if (row.tagName.toLowerCase() === "details") row.open = true;
          row.scrollIntoView({ block: "center" });
          row.classList.remove("flash");
          void row.getBoundingClientRect();
          row.classList.add("flash");
          break;
        }
      }
    });
  }
  document.body.setAttribute("data-script", "ok");
})();
