/* Charts of the resource page (ECharts, served from /assets/echarts/). Data comes from
   <script type="application/json"> tags: no inline script, nothing evaluated. */
(function () {
  "use strict";

  function readJson(id) {
    var el = document.getElementById(id);
    if (!el) { return null; }
    try { return JSON.parse(el.textContent); } catch (e) { return null; }
  }

  function chartIn(id) {
    var el = document.getElementById(id);
    if (!el || typeof echarts === "undefined") { return null; }
    var chart = echarts.init(el, null, { renderer: "canvas" });
    window.addEventListener("resize", function () { chart.resize(); });
    return chart;
  }

  function qualityChart() {
    var data = readJson("quality-data");
    var chart = data && chartIn("quality-chart");
    if (!chart) { return; }
    chart.setOption({
      animation: false,
      tooltip: { trigger: "axis", renderMode: "richText" },
      legend: { data: [data.series_names.accepted, data.series_names.quarantined] },
      grid: { left: 60, right: 60, top: 40, bottom: 60 },
      xAxis: { type: "category", data: data.labels, axisLabel: { rotate: data.labels.length > 6 ? 30 : 0 } },
      yAxis: [
        { type: "value", name: "%", min: 0, max: 100 },
        { type: "value", name: data.series_names.quarantined, minInterval: 1 }
      ],
      series: [
        { name: data.series_names.accepted, type: "line", data: data.accepted_share, yAxisIndex: 0, symbolSize: 8,
          itemStyle: { color: "#1e7b34" } },
        { name: data.series_names.quarantined, type: "bar", data: data.quarantined, yAxisIndex: 1, barMaxWidth: 28,
          itemStyle: { color: "#c0262d", opacity: 0.7 } }
      ]
    });
  }

  var STAGE_COLORS = ["#0b5394", "#6d6875", "#8d6e63", "#1e7b34", "#c0262d", "#6a1b9a", "#00838f", "#ef6c00"];

  function lineageChart() {
    var data = readJson("lineage-data");
    var chart = data && chartIn("lineage-chart");
    if (!chart) { return; }
    var nodes = data.nodes.map(function (n) {
      return { id: n.id, name: n.name, x: n.x, y: n.y, category: n.category, value: n.url || n.id, url: n.url,
               symbolSize: n.url ? 22 : 16, itemStyle: { color: STAGE_COLORS[n.category % STAGE_COLORS.length] } };
    });
    chart.setOption({
      animation: false,
      tooltip: { renderMode: "richText", formatter: function (p) { return p.dataType === "node" ? p.data.value : p.data.step; } },
      legend: { data: data.categories.map(function (c) { return c.name; }) },
      series: [{
        type: "graph", layout: "none", roam: true, categories: data.categories, data: nodes,
        links: data.links.map(function (l) { return { source: l.source, target: l.target, step: l.step }; }),
        edgeSymbol: ["none", "arrow"], edgeSymbolSize: 8,
        label: { show: true, position: "bottom", fontSize: 10, width: 150, overflow: "truncate" },
        lineStyle: { color: "#90a4ae", width: 1.5, curveness: 0.05 }
      }]
    });
    chart.on("click", function (p) {
      if (p.dataType === "node" && p.data.url) { window.location.href = p.data.url; }
    });
  }

  function scoreChart() {
    var data = readJson("score-data");
    var chart = data && chartIn("score-chart");
    if (!chart) { return; }
    chart.setOption({
      animation: false,
      tooltip: { trigger: "axis", renderMode: "richText" },
      xAxis: { type: "category", data: data.labels },
      yAxis: { type: "value", min: 0, max: Math.max.apply(null, data.max.concat([1])) },
      series: [{ name: "MQA", type: "line", data: data.points, symbolSize: 8 }]
    });
  }

  function start() { qualityChart(); lineageChart(); scoreChart(); }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
}());
