// Draws the figures a democratic evaluation's results page embeds as JSON blocks.
(function () {
  "use strict";
  var blocks = document.querySelectorAll("script.fig-data");
  var drawn = 0;
  for (var i = 0; i < blocks.length; i++) {
    var fig = JSON.parse(blocks[i].textContent);
    var div = document.getElementById(blocks[i].getAttribute("data-target"));
    if (!div || !window.Plotly) { continue; }
    window.Plotly.newPlot(div, fig.data, fig.layout, {responsive: true, displaylogo: false});
    drawn += 1;
  }
  document.body.setAttribute("data-charts-ready", String(drawn));
})();
