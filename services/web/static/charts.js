// Draws every <div class="chart" data-chart="…"> with ECharts (vendored; no CDN).
(function () {
  "use strict";
  function option(spec) {
    if (spec.kind === "distribution") {
      var cats = Object.keys(spec.series);
      return {
        tooltip: { formatter: function (p) { return p.value[2] + "：" + p.value[0]; } },
        grid: { left: 70, right: 20, top: 20, bottom: 40 },
        xAxis: { type: "value", name: "总分", scale: true },
        yAxis: { type: "category", data: cats },
        series: [{
          type: "scatter", symbolSize: 14,
          data: cats.flatMap(function (c) {
            return spec.series[c].map(function (p) { return [p[0], c, p[1]]; });
          })
        }]
      };
    }
    if (spec.kind === "indicators") {
      return {
        tooltip: { trigger: "axis" }, legend: { data: ["完成值", "目标值"] },
        grid: { left: 50, right: 20, top: 40, bottom: 80 },
        xAxis: { type: "category", data: spec.names, axisLabel: { interval: 0, rotate: 30 } },
        yAxis: { type: "value" },
        series: [{ name: "完成值", type: "bar", data: spec.values },
                 { name: "目标值", type: "line", data: spec.targets }]
      };
    }
    if (spec.kind === "trend") {
      return {
        tooltip: { trigger: "axis" }, legend: { type: "scroll", data: spec.lines.map(function (l) { return l.name; }) },
        grid: { left: 40, right: 20, top: 40, bottom: 40 },
        xAxis: { type: "category", data: spec.names, boundaryGap: false },
        yAxis: { type: "value", minInterval: 1, name: "逾期事项" },
        series: spec.lines.map(function (l) {
          return { name: l.name, type: "line", data: l.values, symbolSize: 6 };
        })
      };
    }
    var names = Object.keys(spec.series);
    return {
      tooltip: { trigger: "axis" }, legend: { data: names },
      grid: { left: 40, right: 20, top: 40, bottom: 80 },
      xAxis: { type: "category", data: spec.names, axisLabel: { interval: 0, rotate: 30 } },
      yAxis: { type: "value", minInterval: 1 },
      color: ["#57606a", "#cf222e", "#b08800"],
      series: names.map(function (n) { return { name: n, type: "bar", stack: "t", data: spec.series[n] }; })
    };
  }
  function draw() {
    if (typeof echarts === "undefined") { return; }
    document.querySelectorAll(".chart[data-chart]").forEach(function (el) {
      var chart = echarts.init(el);
      chart.setOption(option(JSON.parse(el.getAttribute("data-chart"))));
      window.addEventListener("resize", function () { chart.resize(); });
      el.setAttribute("data-drawn", "1");
    });
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", draw); } else { draw(); }
})();
