// Draws every <div class="chart" data-chart="…"> with ECharts (vendored; no CDN).
// Tooltips are our own escaped text: ECharts' default tooltip puts names into innerHTML (a unit name is
// text from outside) with inline style attributes, which `style-src 'self'` refuses on every hover.
// The SVG renderer styles its elements through the CSSOM, which the CSP does not govern.
(function () {
  "use strict";
  function esc(value) { return echarts.format.encodeHTML(value == null ? "" : String(value)); }
  function shown(value) { return Array.isArray(value) ? value[value.length - 1] : value; }
  function tip(params) {
    var list = Array.isArray(params) ? params : [params];
    var lines = list.length && list[0].name ? [esc(list[0].name)] : [];
    list.forEach(function (p) { lines.push(esc(p.seriesName) + "：" + esc(shown(p.value))); });
    return lines.join("<br>");
  }
  function option(spec) {
    if (spec.kind === "distribution") {
      var cats = Object.keys(spec.series);
      return {
        tooltip: { formatter: function (p) { return esc(p.value[2]) + "：" + esc(p.value[0]); } },
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
        tooltip: { trigger: "axis", formatter: tip }, legend: { data: ["完成值", "目标值"] },
        grid: { left: 50, right: 20, top: 40, bottom: 80 },
        xAxis: { type: "category", data: spec.names, axisLabel: { interval: 0, rotate: 30 } },
        yAxis: { type: "value" },
        series: [{ name: "完成值", type: "bar", data: spec.values },
                 { name: "目标值", type: "line", data: spec.targets }]
      };
    }
    if (spec.kind === "trend") {
      return {
        tooltip: { trigger: "axis", formatter: tip }, legend: { type: "scroll", data: spec.lines.map(function (l) { return l.name; }) },
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
      tooltip: { trigger: "axis", formatter: tip }, legend: { data: names },
      grid: { left: 40, right: 20, top: 40, bottom: 80 },
      xAxis: { type: "category", data: spec.names, axisLabel: { interval: 0, rotate: 30 } },
      yAxis: { type: "value", minInterval: 1 },
      color: ["#57606a", "#cf222e", "#b08800"],
      // Only series that count different tasks share a stack (open red + open yellow, not overdue on red).
      series: names.map(function (n) {
        return { name: n, type: "bar", stack: (spec.stacks || {})[n] || n, data: spec.series[n] };
      })
    };
  }
  function draw() {
    if (typeof echarts === "undefined") { return; }
    document.querySelectorAll(".chart[data-chart]").forEach(function (el) {
      var chart = echarts.init(el, null, { renderer: "svg" });
      chart.setOption(option(JSON.parse(el.getAttribute("data-chart"))));
      window.addEventListener("resize", function () { chart.resize(); });
      el.setAttribute("data-drawn", "1");
    });
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", draw); } else { draw(); }
})();
