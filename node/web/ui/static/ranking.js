/* 直通 — 晾晒比拼: the 有感指数 ranking of a period, every figure explained. Each unit's
   index, rank and change against the previous period, and for each component its value
   (0–100), numerator/denominator (an evaluation: its score and source) and weight; units
   below the minimum sample are listed unranked with the reason. A bar chart (ECharts,
   vendored) of the ranked units' index; leaders and admins enter external evaluations.

   Reads GET /api/v1/index?period=&level=, PUT /api/v1/index/evaluations
   (node/web/index_api.py). */
"use strict";
(function () {
  const { t, h, $, notice, api, errorText, table } = window.ZT;
  const COMPONENTS = ["resolution", "on_time", "satisfaction", "recurrence", "overdue",
    "eval_grassroots", "eval_enterprise", "eval_third_party"];
  let chart = null;

  function fail(error) {
    notice($("ranking-error"), errorText(error), "error");
  }

  function num(v, places) {
    return v === null || v === undefined ? "—" : Number(v).toFixed(places || 1);
  }

  function component(c) {
    if (c.value === null) return h("span", { class: "muted" }, t("ranking.missing"));
    const how = c.den === null
      ? t("ranking.eval.from", { source: c.source || "—" })
      : c.num + "/" + c.den;
    return h("span", { class: "component", "data-component": c.name },
      h("b", null, num(c.value)), " ", h("small", { class: "muted" }, how));
  }

  function change(r) {
    if (r.rank_change === null || r.rank_change === undefined) return "—";
    if (r.rank_change > 0) return "↑" + r.rank_change;
    if (r.rank_change < 0) return "↓" + (-r.rank_change);
    return "＝";
  }

  function draw(rows) {
    if (typeof echarts === "undefined") return;
    const ranked = rows.filter((r) => r.rank !== null);
    if (!chart) chart = echarts.init($("ranking-chart"), null, { renderer: "canvas" });
    chart.setOption({
      animation: false,
      tooltip: { renderMode: "richText" },
      grid: { left: 140, right: 30, top: 10, bottom: 30 },
      xAxis: { type: "value", min: 0, max: 100 },
      yAxis: { type: "category", inverse: true, data: ranked.map((r) => r.name) },
      series: [{ type: "bar", data: ranked.map((r) => r.index), label: { show: true, position: "right" },
        itemStyle: { color: "#0a4a9c" } }],
    }, true);
  }

  async function load() {
    const period = $("rk-period").value.trim();
    const level = $("rk-level").value;
    const q = "?level=" + encodeURIComponent(level) + (period ? "&period=" + encodeURIComponent(period) : "");
    const res = await api("GET", "/index" + q);
    if (!res.ok) return fail(res.error);
    notice($("ranking-error"), "", "error");
    const d = res.data;
    if (!period) $("rk-period").value = d.period;
    $("ranking-meta").textContent = t("ranking.meta", { period: d.period, previous: d.previous_period,
      min: d.min_sample, as_of: d.as_of.slice(0, 16).replace("T", " ") });
    const weight = (name) => d.weights[name];
    const columns = [
      { label: t("ranking.col.rank"), num: true, render: (r) => r.rank === null ? "—" : String(r.rank) },
      { label: t("ranking.col.unit"), render: (r) => h("span", { class: "unit-name" }, r.name) },
      { label: t("ranking.col.index"), num: true, render: (r) => h("b", { class: "index" }, num(r.index, 2)) },
      { label: t("ranking.col.change"), num: true, render: (r) => h("span", { class: "rank-change" }, change(r)) },
      { label: t("ranking.col.previous"), num: true, render: (r) => r.previous_rank === null ? "—" : String(r.previous_rank) },
      ...COMPONENTS.map((name) => ({
        label: t("ranking.comp." + name) + " ×" + weight(name),
        render: (r) => component(r.components.find((c) => c.name === name)) })),
      { label: t("ranking.col.sample"), num: true, render: (r) => String(r.sample) },
      { label: t("ranking.col.note"), render: (r) => r.reason ? t("ranking.reason." + r.reason, { min: d.min_sample }) : "" },
    ];
    $("ranking-table").replaceChildren(table(columns, d.rows.map((r) => ({ ...r, _class: "ranking-row" })),
      { caption: t("ranking.title"), captionHidden: true, empty: t("ranking.empty"), class: "ranking" }));
    $("ranking-weights").textContent = t("ranking.weights.note");
    draw(d.rows);
  }

  async function onEval(ev) {
    ev.preventDefault();
    const f = ev.currentTarget.elements;
    const msg = $("eval-msg");
    const body = { unit: f.unit.value.trim(), period: f.period.value.trim(), kind: f.kind.value,
      score: Number(f.score.value), source: f.source.value.trim() };
    if (!body.unit || !body.period || f.score.value === "" || !body.source) {
      return notice(msg, t("ranking.eval.required"), "error");
    }
    const res = await api("PUT", "/index/evaluations", body);
    if (!res.ok) return notice(msg, errorText(res.error), "error");
    notice(msg, t("ranking.eval.saved", { unit: res.data.unit, period: res.data.period }), "info");
    await load();
  }

  window.ZT.boot({
    roles: ["dispatcher", "handler", "leader", "admin", "viewer", "supervisor", "reviewer"],
    onReady: (me) => {
      $("ranking-form").addEventListener("submit", (ev) => { ev.preventDefault(); load(); });
      $("eval-form").addEventListener("submit", onEval);
      if (!["leader", "admin"].includes(me.role)) $("ranking-eval").hidden = true;
      load();
    },
  });
})();
