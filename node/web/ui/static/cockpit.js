/* 直通 — the city cockpit (驾驶舱) and its printable report, from /summary and /metrics. */
"use strict";
(function () {
  const { cfg, t, label, unitName, h, $, notice, api, errorText, fmtTime, fmtRate, fmtNum,
    lightEl, table, every } = window.ZT;
  const page = document.body.dataset.page;
  const STATES = ["received", "triaged", "assigned", "in_progress", "resolved", "closed",
    "rejected", "reopened", "returned", "escalated"];
  const OPEN = ["received", "triaged", "assigned", "in_progress", "returned", "rejected", "reopened"];
  const LIGHTS = ["green", "yellow", "red"];
  const RATES = ["resolution", "on_time", "satisfaction", "repeat"];

  let latest = null; // {summary, metrics}

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

  function renderCockpit(summary, metrics) {
    const row = unitRow(summary.node, unitName(summary.node), summary);
    const kpis = [
      ["total", t("cockpit.kpi.total"), fmtNum(row.total), ""],
      ["open", t("cockpit.kpi.open"), fmtNum(row.open), ""],
      ["red", t("cockpit.kpi.red"), fmtNum(row.red), row.red ? "kpi-alert" : ""],
      ["resolution", t("cockpit.rate.resolution"), fmtRate(row.resolution), ""],
      ["on_time", t("cockpit.rate.on_time"), fmtRate(row.on_time), ""],
      ["satisfaction", t("cockpit.rate.satisfaction"), fmtRate(row.satisfaction), ""],
      ["repeat", t("cockpit.rate.repeat"), fmtRate(row.repeat), ""],
      ["hours", t("cockpit.kpi.hours"), hours(summary.avg_handling_hours), ""],
    ];
    $("kpis").replaceChildren(...kpis.map(([key, name, value, cls]) =>
      h("li", { class: "kpi " + cls, "data-kpi": key },
        h("span", { class: "kpi-label" }, name), h("span", { class: "kpi-value" }, value))));
    bars($("stages"), STATES.map((s) => ({ key: s, label: label("state.", s), count: (summary.states || {})[s] || 0, cls: "fill-" + s })));
    $("lights").replaceChildren(...LIGHTS.map((l) => h("li", { class: "light-tile light-tile-" + l, "data-light": l },
      lightEl(l), h("span", { class: "light-tile-value" }, fmtNum((summary.lights || {})[l] || 0)))));
    $("units").replaceChildren(...unitsTable(summary).filter(Boolean));
    const tags = summary.top_tags || [];
    if (tags.length) bars($("tags"), tags.map((x) => ({ key: x.tag, label: x.tag, count: x.count })));
    else $("tags").replaceChildren(h("li", { class: "empty" }, t("cockpit.tags.none")));
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
        { label: t("cockpit.col.department"), render: (r) => r.key || t("cockpit.department.none") },
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

  async function load() {
    const [s, m] = await Promise.all([api("GET", "/summary"), api("GET", "/metrics")]);
    const errorBox = $("cockpit-error");
    if (!s.ok) {
      notice(errorBox, errorText(s.error), "error");
      return null;
    }
    notice(errorBox, m.ok ? "" : errorText(m.error), "error");
    latest = { summary: s.data, metrics: m.ok ? m.data : null };
    return latest;
  }

  function cockpit() {
    $("export-csv").addEventListener("click", exportCsv);
    const pauseButton = $("pause");
    const timer = every(cfg.refresh || 5, async () => {
      const data = await load();
      if (!data) return;
      renderCockpit(data.summary, data.metrics);
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
    const data = await load();
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
