/* The result page's player and its time charts (templates/analyzer/_result_listen.html).
 *
 * - A playhead on every time chart follows the player (smoothly while it plays).
 * - A click or tap on a time chart seeks there; a click on a segment's row plays from it.
 * - The segment being played is highlighted in the table of segments.
 *
 * The charts themselves are SVG drawn by the server: without this script they still show,
 * and the segments' links still open the recording at their time. Loaded as a file from
 * 'self', so the Content-Security-Policy needs nothing more.
 */
(function () {
  "use strict";

  var player = document.getElementById("player");
  if (!player) { return; }
  var stack = document.getElementById("timecharts");
  var duration = stack ? parseFloat(stack.getAttribute("data-duration")) : NaN;
  var charts = Number.isFinite(duration) && duration > 0;
  var heads = charts ? Array.prototype.slice.call(stack.querySelectorAll(".playhead")) : [];
  var plots = charts ? Array.prototype.slice.call(stack.querySelectorAll(".tchart-plot")) : [];
  var table = document.querySelector(".segments");
  var rows = Array.prototype.slice.call(document.querySelectorAll("#segments tr[data-start]"));
  var starts = rows.map(function (row) { return parseFloat(row.getAttribute("data-start")); });
  var ends = rows.map(function (row) { return parseFloat(row.getAttribute("data-end")); });
  var current = -1;
  var frame = 0;

  function clamp(value, low, high) { return Math.min(high, Math.max(low, value)); }

  function play() {
    var playing = player.play();
    if (playing && playing.catch) { playing.catch(function () {}); }
  }

  // The segment that owns `time`: windows overlap by half, so each one counts from its
  // start until the next one starts (the rule of the share of speaking time, too).
  function segmentAt(time) {
    var found = -1;
    for (var i = 0; i < starts.length && starts[i] <= time; i += 1) { found = i; }
    return found >= 0 && time < ends[found] ? found : -1;
  }

  function keepInView(row) {
    if (!table || player.paused) { return; }
    var top = row.offsetTop;
    var bottom = top + row.offsetHeight;
    if (top < table.scrollTop || bottom > table.scrollTop + table.clientHeight) {
      table.scrollTop = Math.max(0, top - table.clientHeight / 2);
    }
  }

  function show() {
    var time = player.currentTime || 0;
    if (charts) {
      var left = clamp(time / duration, 0, 1) * 100 + "%";
      heads.forEach(function (head) { head.style.left = left; });
    }
    var now = segmentAt(time);
    if (now !== current) {
      if (current >= 0) { rows[current].classList.remove("playing"); }
      if (now >= 0) {
        rows[now].classList.add("playing");
        keepInView(rows[now]);
      }
      current = now;
    }
  }

  function follow() {
    show();
    frame = player.paused ? 0 : window.requestAnimationFrame(follow);
  }

  ["timeupdate", "seeking", "seeked", "loadedmetadata", "pause", "ended"].forEach(function (name) {
    player.addEventListener(name, show);
  });
  player.addEventListener("play", function () {
    if (!frame) { frame = window.requestAnimationFrame(follow); }
  });

  plots.forEach(function (plot) {
    plot.addEventListener("click", function (event) {
      var box = plot.getBoundingClientRect();
      if (!box.width) { return; }
      player.currentTime = clamp((event.clientX - box.left) / box.width, 0, 1) * duration;
      show();
    });
  });

  // Anywhere on a segment's row, or its time (a link that works without JavaScript too).
  document.addEventListener("click", function (event) {
    var target = event.target.closest ? event.target.closest("#segments [data-start]") : null;
    if (!target) { return; }
    event.preventDefault();
    player.currentTime = parseFloat(target.getAttribute("data-start"));
    show();
    play();
  });

  heads.forEach(function (head) { head.hidden = false; });
  var hint = document.getElementById("charts-hint");
  if (hint && plots.length) { hint.hidden = false; }
  show();
})();
