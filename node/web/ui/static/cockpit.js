/* 直通 — the city cockpit (驾驶舱) and its printable report, from /summary, /metrics and
   /stats/series. The charts are Apache ECharts (static/vendor/echarts, pinned, served by the
   node), canvas renderer, canvas-drawn tooltips (the CSP allows no inline style markup);
   each refresh updates them in place with setOption. Before printing they are redrawn in
   ink on paper at the printed width, and back after. */
"use strict";
(function () {
  const ZT = window.ZT;
  const { cfg, t, label, h, $, notice, api, errorText, fmtTime, fmtRate, fmtNum,
    lightEl, table, every } = ZT;
  const page = document.body.dataset.page;
  const STATES = ["received", "triaged", "assigned", "in_progress", "resolved", "closed",
    "rejected", "reopened", "returned", "escalated"];
  const OPEN = ["received", "triaged", "assigned", "in_progress", "returned", "rejected", "reopened"];
  const LIGHTS = ["green", "yellow", "red"];
  const RATES = ["resolution", "on_time", "satisfaction", "repeat", "recurrence"];

  let latest = null; // {summary, metrics, series}
  let names = {}; // code → name, from GET /divisions (the node's reference data)
  const WEEKS = 12;

  function unitName(code) {
    return names[code] || ZT.unitName(code);
  }

  // ---------------------------------------------------------------- numbers of one unit

  function rate(sums, name) {
    const den = sums[name + "_den"] || 0;
    return den ? (sums[name + "_num"] || 0) / den : null;
  }

  function subtract(a, b) {
    const out = Object.assign({}, a);
    for (const [k, v] of Object.entries(b || {})) out[k] = (out[k] || 0) - v;
    return out;
  }

  /** One table row from a summary (or from the numbers of the unit's own issues). */
  function unitRow(code, name, s, cls) {
    const states = s.states || {};
    const lights = s.lights || {};
    const sums = s.sums || {};
    const row = {
      code: code, name: name, total: s.total || 0, _class: cls || null,
      open: OPEN.reduce((n, st) => n + (states[st] || 0), 0),
      green: lights.green || 0, yellow: lights.yellow || 0, red: lights.red || 0,
      hours: sums.handled ? s.handling_hours / sums.handled : null,
    };
    for (const r of RATES) row[r] = rate(sums, r);
    return row;
  }

  /** Child units, then this unit's own issues (total minus children: sums add up exactly), then the total. */
  function unitRows(summary) {
    const kids = Object.entries(summary.children || {}).sort(([a], [b]) => a.localeCompare(b));
    const rows = kids.map(([code, s]) => unitRow(code, unitName(code), s));
    if (kids.length) {
      let own = { total: summary.total, states: summary.states, lights: summary.lights, sums: summary.sums, handling_hours: summary.handling_hours };
      for (const [, s] of kids) {
        own = { total: own.total - s.total, states: subtract(own.states, s.states), lights: subtract(own.lights, s.lights),
          sums: subtract(own.sums, s.sums), handling_hours: own.handling_hours - s.handling_hours };
      }
      rows.push(unitRow(summary.node, t("unit.own", { name: unitName(summary.node) }), own, "row-own"));
    }
    rows.push(unitRow(summary.node, t("unit.total"), summary, "row-total"));
    return rows;
  }

  function hours(x) {
    return x === null || x === undefined ? "—" : t("cockpit.hours", { n: x.toFixed(1) });
  }

  function dotCount(light, n) {
    return h("span", { class: "light light-" + light + (n ? "" : " light-zero") },
      h("span", { class: "dot", "aria-hidden": "true" }), fmtNum(n));
  }

  const UNIT_COLUMNS = [
    { key: "name", label: () => t("cockpit.col.unit"), render: (r) => [r.name, h("span", { class: "unit-code" }, r.code)] },
    { key: "total", label: () => t("cockpit.col.total"), num: true, render: (r) => fmtNum(r.total) },
    { key: "open", label: () => t("cockpit.col.open"), num: true, render: (r) => fmtNum(r.open) },
    { key: "green", label: () => t("light.green"), num: true, render: (r) => dotCount("green", r.green) },
    { key: "yellow", label: () => t("light.yellow"), num: true, render: (r) => dotCount("yellow", r.yellow) },
    { key: "red", label: () => t("light.red"), num: true, render: (r) => dotCount("red", r.red) },
    { key: "resolution", label: () => t("cockpit.rate.resolution"), num: true, render: (r) => fmtRate(r.resolution) },
    { key: "on_time", label: () => t("cockpit.rate.on_time"), num: true, render: (r) => fmtRate(r.on_time) },
    { key: "satisfaction", label: () => t("cockpit.rate.satisfaction"), num: true, render: (r) => fmtRate(r.satisfaction) },
    { key: "repeat", label: () => t("cockpit.rate.repeat"), num: true, render: (r) => fmtRate(r.repeat) },
    { key: "recurrence", label: () => t("cockpit.rate.recurrence"), num: true, render: (r) => fmtRate(r.recurrence) },
    { key: "hours", label: () => t("cockpit.col.hours"), num: true, render: (r) => hours(r.hours) },
  ];

  function unitsTable(summary) {
    const kids = Object.keys(summary.children || {}).length;
    return [table(UNIT_COLUMNS.map((c) => Object.assign({}, c, { label: c.label() })), unitRows(summary),
      { caption: t("cockpit.units.title"), captionHidden: true, rowHeaders: true, class: "table-units" }),
    kids ? null : h("p", { class: "muted small" }, t("cockpit.units.none"))];
  }

  // ---------------------------------------------------------------- CSV export (client-side)

  function csvCell(value) {
    let s = value === null || value === undefined ? "" : String(value);
    if (/^[=+\-@\t\r]/.test(s)) s = "'" + s; // no formulas when opened in a spreadsheet
    return /[",\r\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
  }

  function exportCsv() {
    if (!latest) return;
    const s = latest.summary;
    const head = [t("cockpit.col.code"), ...UNIT_COLUMNS.map((c) => c.label())];
    const lines = [head];
    for (const r of unitRows(s)) {
      lines.push([r.code, r.name, r.total, r.open, r.green, r.yellow, r.red,
        ...RATES.map((k) => (r[k] === null ? "" : fmtRate(r[k]))),
        r.hours === null ? "" : r.hours.toFixed(1)]);
    }
    lines.push([]);
    lines.push([t("cockpit.asof"), fmtTime(s.as_of, true)]);
    const text = "\ufeff" + lines.map((l) => l.map(csvCell).join(",")).join("\r\n") + "\r\n";
    const stamp = fmtTime(s.as_of).replace(/[-: ]/g, "").slice(0, 12);
    const a = h("a", { href: URL.createObjectURL(new Blob([text], { type: "text/csv;charset=utf-8" })),
      download: "zhitong-units-" + s.node + "-" + stamp + ".csv" });
    document.body.append(a);
    a.click();
    setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
  }

  // ---------------------------------------------------------------- .xlsx export (server)

  /** Every table of the cockpit as one workbook, built by the node from its metrics
     (GET /cockpit/export.xlsx); fetched with the bearer token and saved from a blob. */
  async function exportXlsx() {
    const error = await ZT.download("/cockpit/export.xlsx?lang=" + encodeURIComponent(cfg.lang),
      "zhitong-cockpit.xlsx");
    if (error) notice($("cockpit-error"), errorText(error), "error");
  }

  // ---------------------------------------------------------------- the cockpit

  function bars(listEl, rows) {
    const max = Math.max(1, ...rows.map((r) => r.count));
    listEl.replaceChildren(...rows.map((r) => {
      const fill = h("span", { class: "bar-fill" + (r.cls ? " " + r.cls : "") });
      fill.style.width = ((r.count / max) * 100).toFixed(1) + "%";
      return h("li", { class: "bar", "data-key": r.key },
        h("span", { class: "bar-label" }, r.label),
        h("span", { class: "bar-track", "aria-hidden": "true" }, fill),
        h("span", { class: "bar-value" }, fmtNum(r.count)));
    }));
  }

  // ---------------------------------------------------------------- charts (Apache ECharts)

  const MIX = ["done", "green", "yellow", "red", "none"];
  const SCREEN_INK = { ink: "#e8eef8", ink2: "#a9bbd6", line: "#27436f", grid: "#1b365f",
    mix: { done: "#3d8bfd", green: "#2fbf5b", yellow: "#f5b800", red: "#e0262d", none: "#6b7f9e" },
    resolved: "#7fe0ff", closed: "#c9a7ff", bar: "#3d8bfd", grey: "#4d6a97", prev: "#ffffff",
    pie: ["#3d8bfd", "#2fbf5b", "#f5b800", "#e07b26", "#a37cf0", "#36c2c2", "#e0262d"] };
  const PAPER_INK = { ink: "#1f2329", ink2: "#4a5361", line: "#b8c0cc", grid: "#e4e7ec",
    mix: { done: "#0a4a9c", green: "#1f8a3d", yellow: "#c99700", red: "#c8161d", none: "#8a94a6" },
    resolved: "#0a7ea4", closed: "#6b3fb8", bar: "#0a4a9c", grey: "#b8c0cc", prev: "#1f2329",
    pie: ["#0a4a9c", "#1f8a3d", "#c99700", "#b85a12", "#6b3fb8", "#137a7a", "#c8161d"] };
  let ink = SCREEN_INK;
  const charts = {}; // element id → ECharts instance

  function chart(id) {
    if (!charts[id]) {
      // canvas: no inline SVG style attributes; devicePixelRatio ≥ 2 keeps print sharp
      charts[id] = echarts.init($(id), null, { renderer: "canvas", devicePixelRatio: Math.max(2, window.devicePixelRatio || 1) });
    }
    return charts[id];
  }

  const calm = window.matchMedia("(prefers-reduced-motion: reduce)");

  function base() {
    return {
      animation: !calm.matches,
      animationDurationUpdate: 300,
      textStyle: { color: ink.ink, fontFamily: getComputedStyle(document.body).fontFamily, fontSize: 14 },
      // richText: the tooltip is drawn on the canvas, no HTML with inline styles (CSP)
      tooltip: { renderMode: "richText", backgroundColor: "#0e2242", borderColor: ink.line, textStyle: { color: "#fff" } },
    };
  }

  function axisStyle() {
    return { axisLine: { lineStyle: { color: ink.line } }, axisLabel: { color: ink.ink2, fontSize: 13 },
      splitLine: { lineStyle: { color: ink.grid } } };
  }

  function shortDate(iso) {
    return iso.slice(5);
  }

  function drawWeekly(s) {
    const series = MIX.map((m) => ({
      name: m === "done" || m === "none" ? t("cockpit.mix." + m) : t("light." + m), type: "bar", stack: "received",
      barMaxWidth: 38, itemStyle: { color: ink.mix[m] }, emphasis: { focus: "series" }, data: s.received[m],
    }));
    series.push({ name: t("cockpit.series.resolved"), type: "line", data: s.resolved, symbolSize: 5,
      lineStyle: { width: 3, color: ink.resolved }, itemStyle: { color: ink.resolved } });
    series.push({ name: t("cockpit.series.closed"), type: "line", data: s.closed, symbolSize: 5,
      lineStyle: { width: 3, type: "dashed", color: ink.closed }, itemStyle: { color: ink.closed } });
    chart("chart-weekly").setOption(Object.assign(base(), {
      tooltip: Object.assign(base().tooltip, { trigger: "axis", axisPointer: { type: "shadow" } }),
      legend: { top: 0, textStyle: { color: ink.ink, fontSize: 13 }, itemWidth: 16, itemHeight: 10 },
      grid: { left: 40, right: 16, top: 52, bottom: 28 }, // room for a legend on two lines
      xAxis: Object.assign({ type: "category", data: s.weeks.map(shortDate) }, axisStyle()),
      yAxis: Object.assign({ type: "value", minInterval: 1 }, axisStyle()),
      series: series,
    }));
  }

  function drawFunnel(s) {
    const data = s.funnel.map((f) => ({ name: t("cockpit.stage." + f.stage), value: f.count }));
    chart("chart-funnel").setOption(Object.assign(base(), {
      tooltip: Object.assign(base().tooltip, { trigger: "item" }),
      color: ["#3d8bfd", "#4f9dff", "#36c2c2", "#2fbf5b", "#8fd14f", "#f5b800"],
      series: [{ type: "funnel", sort: "none", left: "8%", right: "8%", top: 8, bottom: 8, minSize: "18%", gap: 3,
        min: 0, max: Math.max(1, ...s.funnel.map((f) => f.count)),
        label: { show: true, position: "inside", color: "#fff", fontSize: 14, formatter: "{b}  {c}" },
        itemStyle: { borderWidth: 0 }, data: data }],
    }));
  }

  function drawChannels(s) {
    const data = s.channels.map((c) => ({ name: label("channel.", c.channel), value: c.count }));
    chart("chart-channels").setOption(Object.assign(base(), {
      tooltip: Object.assign(base().tooltip, { trigger: "item", formatter: "{b}: {c} ({d}%)" }),
      color: ink.pie,
      title: { show: !data.length, text: t("cockpit.channels.none"), left: "center", top: "middle",
        textStyle: { color: ink.ink2, fontSize: 14, fontWeight: "normal" } },
      series: [{ type: "pie", radius: ["34%", "60%"], center: ["50%", "52%"], avoidLabelOverlap: true,
        label: { color: ink.ink, fontSize: 13, formatter: "{b}\n{c}", alignTo: "edge", edgeDistance: 6,
          width: 96, overflow: "break" },
        labelLine: { lineStyle: { color: ink.ink2 } },
        data: data }],
    }));
  }

  function tagHref(tag) {
    return cfg.ui + "/workbench?tag=" + encodeURIComponent(tag);
  }

  function drawTags(tags) {
    const rows = tags.slice().reverse(); // the commonest on top
    const c = chart("chart-tags");
    c.setOption(Object.assign(base(), {
      tooltip: Object.assign(base().tooltip, { trigger: "item" }),
      grid: { left: 8, right: 44, top: 6, bottom: 6, containLabel: true },
      xAxis: Object.assign({ type: "value", minInterval: 1 }, axisStyle(), { axisLabel: { show: false } }),
      yAxis: Object.assign({ type: "category", data: rows.map((x) => x.tag), triggerEvent: true }, axisStyle(),
        { axisLabel: { color: ink.ink, fontSize: 14, width: 130, overflow: "truncate" } }),
      series: [{ type: "bar", barMaxWidth: 22, cursor: "pointer", data: rows.map((x) => x.count),
        itemStyle: { color: ink.bar, borderRadius: [0, 4, 4, 0] },
        label: { show: true, position: "right", color: ink.ink, fontSize: 13 } }],
    }));
  }

  /** "▲ 3.2" / "▼ 1.0" / "" — the change of a rate in percentage points. */
  function change(x) {
    if (x === null || x === undefined) return "";
    const pts = Math.round(x * 1000) / 10;
    return pts > 0 ? "▲" + pts.toFixed(1) : pts < 0 ? "▼" + (-pts).toFixed(1) : "＝";
  }

  function drawRanking(id, rows, nameOf) {
    const shown = rows.slice(0, 12).reverse(); // the best on top
    const rate = (r) => (r.current.rate === null ? 0 : Math.round(r.current.rate * 1000) / 10);
    const prev = (r) => (r.previous.rate === null ? null : Math.round(r.previous.rate * 1000) / 10);
    const c = chart(id);
    c.setOption(Object.assign(base(), {
      tooltip: Object.assign(base().tooltip, { trigger: "axis", axisPointer: { type: "shadow" } }),
      title: { show: !shown.length, text: t("cockpit.rank.none"), left: "center", top: "middle",
        textStyle: { color: ink.ink2, fontSize: 14, fontWeight: "normal" } },
      legend: { top: 0, right: 0, textStyle: { color: ink.ink2, fontSize: 12 }, itemWidth: 12, itemHeight: 8,
        data: [t("cockpit.rank.current", { n: WEEKS }), t("cockpit.rank.previous", { n: WEEKS })] },
      grid: { left: 8, right: 128, top: 24, bottom: 6, containLabel: true },
      xAxis: Object.assign({ type: "value", min: 0, max: 100 }, axisStyle(), { axisLabel: { show: false } }),
      yAxis: Object.assign({ type: "category", data: shown.map((r) => (r.rank ? r.rank + ". " : "") + nameOf(r)) },
        axisStyle(), { axisLabel: { color: ink.ink, fontSize: 14, width: 150, overflow: "truncate" } }),
      series: [
        { name: t("cockpit.rank.current", { n: WEEKS }), type: "bar", barMaxWidth: 20,
          data: shown.map((r) => ({ value: rate(r), itemStyle: { color: r.rank ? ink.bar : ink.grey, borderRadius: [0, 4, 4, 0] },
            label: { show: true, position: "right", color: ink.ink, fontSize: 13,
              formatter: (r.current.rate === null ? "—" : rate(r).toFixed(1) + "%") + " " +
                (r.rank ? change(r.change) : t("cockpit.rank.insufficient")) } })) },
        { name: t("cockpit.rank.previous", { n: WEEKS }), type: "scatter", symbol: "rect", symbolSize: [3, 18],
          itemStyle: { color: ink.prev }, data: shown.map((r) => prev(r)) },
      ],
    }));
  }

  function drawCharts(series, tags) {
    if (series) {
      drawWeekly(series);
      drawFunnel(series);
      drawChannels(series);
      drawRanking("chart-units", series.units, (r) => unitName(r.origin));
      const several = new Set(series.departments.map((d) => d.origin)).size > 1;
      drawRanking("chart-departments", series.departments,
        (r) => (several ? unitName(r.origin) + "·" : "") + window.ZT.unitLabel(r.department));
      $("rank-note").textContent = t("cockpit.rank.note", { n: WEEKS, min: series.min_sample });
    }
    drawTags(tags);
  }

  function clickTags() {
    // "点进去": a bar or its label opens the workbench's pool filtered by the tag
    chart("chart-tags").on("click", (p) => {
      const tag = p.componentType === "yAxis" ? p.value : p.name;
      if (tag) location.assign(tagHref(tag));
    });
  }

  function resizeAll() {
    for (const c of Object.values(charts)) c.resize();
  }

  /** Redraw for paper (ink, printed width) before printing and back afterwards. */
  function printing(on) {
    if ((ink === PAPER_INK) === on) return resizeAll();
    ink = on ? PAPER_INK : SCREEN_INK;
    document.body.classList.toggle("printing", on);
    if (latest) drawCharts(latest.series, topTags(latest));
    resizeAll();
  }

  function topTags(data) {
    return data.series ? data.series.top_tags : (data.summary.top_tags || []);
  }

  function renderCockpit(summary, metrics, series) {
    const row = unitRow(summary.node, unitName(summary.node), summary);
    const kpis = [
      ["total", t("cockpit.kpi.total"), fmtNum(row.total), ""],
      ["open", t("cockpit.kpi.open"), fmtNum(row.open), ""],
      ["red", t("cockpit.kpi.red"), fmtNum(row.red), row.red ? "kpi-alert" : ""],
      ["resolution", t("cockpit.rate.resolution"), fmtRate(row.resolution), ""],
      ["on_time", t("cockpit.rate.on_time"), fmtRate(row.on_time), ""],
      ["satisfaction", t("cockpit.rate.satisfaction"), fmtRate(row.satisfaction), ""],
      ["repeat", t("cockpit.rate.repeat"), fmtRate(row.repeat), ""],
      ["recurrence", t("cockpit.rate.recurrence"), fmtRate(row.recurrence), ""],  // the subtree's, folded from its units' sums
      ["hours", t("cockpit.kpi.hours"), hours(summary.avg_handling_hours), ""],
    ];
    $("kpis").replaceChildren(...kpis.map(([key, name, value, cls]) =>
      h("li", { class: "kpi " + cls, "data-kpi": key },
        h("span", { class: "kpi-label" }, name), h("span", { class: "kpi-value" }, value))));
    bars($("stages"), STATES.map((s) => ({ key: s, label: label("state.", s), count: (summary.states || {})[s] || 0, cls: "fill-" + s })));
    $("lights").replaceChildren(...LIGHTS.map((l) => h("li", { class: "light-tile light-tile-" + l, "data-light": l },
      lightEl(l), h("span", { class: "light-tile-value" }, fmtNum((summary.lights || {})[l] || 0)))));
    $("units").replaceChildren(...unitsTable(summary).filter(Boolean));
    const tags = topTags({ summary: summary, series: series });
    if (tags.length) {
      bars($("tags"), tags.map((x) => ({ key: x.tag, count: x.count,
        label: h("a", { href: tagHref(x.tag), title: t("cockpit.tags.open", { tag: x.tag, n: x.count }) }, x.tag) })));
    } else $("tags").replaceChildren(h("li", { class: "empty" }, t("cockpit.tags.none")));
    drawCharts(series, tags);
    const red = summary.overdue || [];
    $("redlist").replaceChildren(...(red.length ? red.slice(0, 30).map((o) => h("li", { class: "red-item" },
      h("span", { class: "mono" }, o.number), h("span", { class: "red-title" }, o.title),
      h("span", { class: "red-unit" }, unitName(o.node)))) : [h("li", { class: "empty" }, t("cockpit.red.none"))]));
    if (metrics) {
      const ranked = metrics.rankings.department.ranked;
      const order = [...ranked, ...metrics.rankings.department.insufficient_sample];
      if (metrics.by_department[""]) order.push("");
      $("departments").replaceChildren(table([
        { label: t("cockpit.col.rank"), num: true, render: (r) => (ranked.includes(r.key) ? String(ranked.indexOf(r.key) + 1) : "—") },
        { label: t("cockpit.col.department"), render: (r) => window.ZT.unitLabel(r.key) || t("cockpit.department.none") },
        { label: t("cockpit.col.total"), num: true, render: (r) => fmtNum(r.total) },
        { label: t("cockpit.col.open"), num: true, render: (r) => fmtNum(r.open) },
        { label: t("light.red"), num: true, render: (r) => dotCount("red", r.overdue) },
        { label: t("cockpit.rate.on_time"), num: true, render: (r) => fmtRate(r.on_time_rate) },
        { label: t("cockpit.rate.satisfaction"), num: true, render: (r) => fmtRate(r.satisfaction_rate) },
        { label: t("cockpit.col.sample"), num: true, render: (r) => fmtNum(r.sample) },
      ], order.map((k) => Object.assign({ key: k }, metrics.by_department[k])),
      { caption: t("cockpit.departments.title"), captionHidden: true, empty: t("cockpit.departments.none") }));
    }
  }

  // ---------------------------------------------------------------- the printable report

  function renderReport(summary, me) {
    const row = unitRow(summary.node, unitName(summary.node), summary);
    $("report-meta").textContent = t("cockpit.report.meta", {
      unit: unitName(summary.node) + "（" + summary.node + "）", asof: fmtTime(summary.as_of, true), by: me.display_name,
    });
    const kv = [
      [t("cockpit.kpi.total"), fmtNum(row.total)], [t("cockpit.kpi.open"), fmtNum(row.open)],
      [t("cockpit.kpi.red"), fmtNum(row.red)],
      ...RATES.map((r) => [t("cockpit.rate." + r), fmtRate(row[r])]),
      [t("cockpit.kpi.hours"), hours(summary.avg_handling_hours)],
    ];
    $("report-kpis").replaceChildren(table([
      { label: t("cockpit.col.indicator"), render: (r) => r[0] }, { label: t("cockpit.col.value"), num: true, render: (r) => r[1] },
    ], kv, { rowHeaders: true }));
    $("units").replaceChildren(...unitsTable(summary).filter(Boolean));
    $("report-stages").replaceChildren(table([
      { label: t("cockpit.col.stage"), render: (s) => label("state.", s) },
      { label: t("cockpit.col.count"), num: true, render: (s) => fmtNum((summary.states || {})[s] || 0) },
    ], STATES, { rowHeaders: true }));
    $("report-tags").replaceChildren(table([
      { label: t("cockpit.col.rank"), num: true, render: (x) => String(summary.top_tags.indexOf(x) + 1) },
      { label: t("cockpit.col.tag"), render: (x) => x.tag },
      { label: t("cockpit.col.count"), num: true, render: (x) => fmtNum(x.count) },
    ], summary.top_tags || [], { empty: t("cockpit.tags.none") }));
    $("report-red").replaceChildren(table([
      { label: t("cockpit.col.number"), render: (o) => h("span", { class: "mono" }, o.number) },
      { label: t("cockpit.col.title"), render: (o) => o.title },
      { label: t("cockpit.col.unit"), render: (o) => unitName(o.node) },
    ], summary.overdue || [], { empty: t("cockpit.red.none") }));
  }

  // ---------------------------------------------------------------- loading

  async function loadNames() {
    const [d] = await Promise.all([api("GET", "/divisions"), window.ZT.loadUnitNames()]);
    if (d.ok) names = d.data.names;
  }

  // the red and black lists (典型案例 / 负面案例): the newest published cases of the subtree
  async function loadCases() {
    for (const kind of ["exemplary", "negative"]) {
      const res = await api("GET", "/cases?limit=8&kind=" + kind);
      if (!res.ok) continue;
      $("cases-" + kind).replaceChildren(...(res.data.items.length ? res.data.items.map((c) =>
        h("li", { class: "case-item case-" + c.kind, "data-case": c.id },
          h("span", { class: "case-title" }, c.title), " ",
          h("span", { class: "red-unit" }, unitName(c.origin)),
          (c.tags || []).length ? h("span", { class: "muted small" }, " · " + c.tags.join("、")) : null))
        : [h("li", { class: "empty" }, t("cockpit.cases.none"))]));
    }
  }

  // at a province: likely duplicates across cities, from the signatures in the cities'
  // summaries (no text reaches the province); each city confirms from its own texts
  async function loadCrossCity() {
    const res = await api("GET", "/clusters/cross-city");
    if (!res.ok || !res.data.length) return;
    const side = (x) => h("span", { class: "crosscity-side" },
      h("span", { class: "red-unit" }, unitName(x.city)), " ",
      h("span", { class: "mono" }, x.number),
      x.node !== x.city ? h("span", { class: "muted small" }, "（" + unitName(x.node) + "）") : null);
    $("crosscity-list").replaceChildren(...res.data.slice(0, 20).map((p) =>
      h("li", { class: "crosscity-item" }, side(p.a), " ↔ ", side(p.b), " ",
        h("span", { class: "muted small" },
          t("cockpit.crosscity.similarity", { pct: Math.round(p.similarity * 100) })))));
    $("crosscity").hidden = false;
  }

  async function load(withSeries) {
    if (withSeries) { loadCases(); loadCrossCity(); }
    const [s, m, w] = await Promise.all([api("GET", "/summary"), api("GET", "/metrics"),
      withSeries ? api("GET", "/stats/series?weeks=" + WEEKS) : null]);
    const errorBox = $("cockpit-error");
    if (!s.ok) {
      notice(errorBox, errorText(s.error), "error");
      return null;
    }
    const failed = [m, w].find((r) => r && !r.ok);
    notice(errorBox, failed ? errorText(failed.error) : "", "error");
    latest = { summary: s.data, metrics: m.ok ? m.data : null, series: w && w.ok ? w.data : null };
    return latest;
  }

  async function cockpit() {
    $("export-csv").addEventListener("click", exportCsv);
    $("export-xlsx").addEventListener("click", exportXlsx);
    clickTags();
    window.addEventListener("resize", resizeAll);
    // the print dialog fires beforeprint; print emulation and PDF output switch the media
    window.addEventListener("beforeprint", () => printing(true));
    window.addEventListener("afterprint", () => printing(false));
    window.matchMedia("print").addEventListener("change", (e) => printing(e.matches));
    await loadNames();
    const pauseButton = $("pause");
    const timer = every(cfg.refresh || 5, async () => {
      const data = await load(true);
      if (!data) return;
      renderCockpit(data.summary, data.metrics, data.series);
      $("asof").textContent = t("cockpit.asof_line", { time: fmtTime(data.summary.as_of, true), n: cfg.refresh || 5 });
      document.body.dataset.loaded = data.summary.as_of;
    });
    pauseButton.addEventListener("click", () => {
      timer.paused = !timer.paused;
      pauseButton.setAttribute("aria-pressed", String(timer.paused));
      pauseButton.textContent = t(timer.paused ? "cockpit.resume" : "cockpit.pause");
    });
  }

  async function report(me) {
    $("print").addEventListener("click", () => window.print());
    await loadNames();
    const data = await load(false);
    if (data) {
      renderReport(data.summary, me);
      document.body.dataset.loaded = data.summary.as_of;
    }
  }

  window.ZT.boot({
    roles: ["dispatcher", "handler", "leader", "admin", "viewer"],
    onReady: page === "cockpit_report" ? report : cockpit,
  });
})();
