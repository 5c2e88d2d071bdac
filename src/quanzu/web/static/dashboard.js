// The dashboard's charts, drawn with ECharts (served locally) from the numbers in the page.
(function () {
  "use strict";
  function draw() {
    if (!window.echarts) return;
    var data = JSON.parse(document.getElementById("chart-data").textContent);
    var trend = echarts.init(document.getElementById("chart-trend"));
    trend.setOption({
      tooltip: { trigger: "axis" }, legend: { data: [data.labels.warnings, data.labels.dissuaded] },
      xAxis: { type: "category", data: data.days }, yAxis: { type: "value", minInterval: 1 },
      series: [
        { name: data.labels.warnings, type: "line", data: data.warnings, smooth: true },
        { name: data.labels.dissuaded, type: "line", data: data.dissuaded, smooth: true }
      ]
    });
    var scam = echarts.init(document.getElementById("chart-scam"));
    scam.setOption({ tooltip: { trigger: "item" }, series: [{ type: "pie", radius: ["35%", "65%"], data: data.scam }] });
    window.addEventListener("resize", function () { trend.resize(); scam.resize(); });
  }
  if (document.readyState === "complete") draw(); else window.addEventListener("load", draw);
})();
