/* 直通 — periodic reports (月报、季报、年报): the reports this node keeps, newest period
   first, each downloadable as PDF and .xlsx; a report's key figures; and, for leaders and
   admins, a report of an ended period made on demand, and a special report (专项报告) of
   chosen days, tags and units.

   Reads GET /api/v1/reports, GET /api/v1/reports/{id} and its /pdf and /xlsx, POST
   /api/v1/reports (node/web/reports_api.py). Downloads carry the bearer token, so they are
   fetched and saved from a blob. */
"use strict";
(function () {
  const { cfg, t, h, $, notice, api, errorText, timeEl, table } = window.ZT;
  const PLACEHOLDER = { month: "2026-11", quarter: "2026-Q4", year: "2026" };

  function fail(error) {
    notice($("reports-error"), errorText(error), "error");
  }

  function pct(rate) {
    return rate && rate.value !== null && rate.value !== undefined
      ? (rate.value * 100).toFixed(1) + "%" : "—";
  }

  async function download(item, format) {
    const url = item[format + "_url"];  // the API's own path, under cfg.api
    const path = url.startsWith(cfg.api) ? url.slice(cfg.api.length) : url;
    const error = await window.ZT.download(path, "zhitong-report." + format);
    if (error) fail(error);
  }

  function button(label, onClick, id) {
    const b = h("button", { type: "button", class: "btn btn-quiet", id: id || null }, label);
    b.addEventListener("click", onClick);
    return b;
  }

  async function show(item) {
    const res = await api("GET", "/reports/" + item.id);
    if (!res.ok) return fail(res.error);
    const c = res.data.content;
    $("reports-detail").hidden = false;
    $("reports-detail-h").textContent = t("reports.detail.title",
      { period: c.period, kind: t("reports.kind." + c.kind) });
    $("reports-detail-meta").textContent = t("reports.detail.meta",
      { start: c.start.slice(0, 10), end: c.end.slice(0, 10), as_of: c.as_of.slice(0, 16).replace("T", " ") });
    const rows = [
      ["received", (f) => String(f.received)], ["resolved", (f) => String(f.resolved)],
      ["closed", (f) => String(f.closed)], ["resolution", (f) => pct(f.rates.resolution)],
      ["on_time", (f) => pct(f.rates.on_time)], ["satisfaction", (f) => pct(f.rates.satisfaction)],
      ["repeat", (f) => pct(f.rates.repeat)], ["recurrence", (f) => pct(f.rates.recurrence)],
      ["overdue", (f) => String(f.overdue), true],  // at the time of the report: no past
    ];
    const past = (r, f) => (r[2] ? "—" : r[1](f));
    $("reports-figures").replaceChildren(table([
      { label: t("reports.col.figure"), render: (r) => t("reports.figure." + r[0]) },
      { label: t("reports.col.current", { period: c.period }), num: true, render: (r) => r[1](c.current) },
      { label: t("reports.col.previous", { period: c.previous_period }), num: true, render: (r) => past(r, c.previous) },
      { label: t("reports.col.year_before", { period: c.year_before_period }), num: true, render: (r) => past(r, c.year_before) },
    ], rows, { caption: t("reports.detail.caption"), rowHeaders: true }));
  }

  async function load() {
    const kind = $("r-filter-kind").value;
    const res = await api("GET", "/reports" + (kind ? "?kind=" + encodeURIComponent(kind) : ""));
    if (!res.ok) return fail(res.error);
    notice($("reports-error"), "", "error");
    $("reports-list").replaceChildren(table([
      { label: t("reports.col.period"), render: (r) => h("span", { class: "mono" }, r.period) },
      { label: t("reports.kind"), render: (r) => t("reports.kind." + r.kind) },
      { label: t("reports.col.made"), render: (r) => timeEl(r.created_at) },
      { label: t("reports.col.trigger"), render: (r) => t("reports.trigger." + r.trigger) },
      { label: t("reports.col.version"), num: true, render: (r) => String(r.version) },
      { label: t("reports.col.files"), render: (r) => h("span", { class: "actions" },
        button(t("reports.action.show"), () => show(r)),
        button("PDF", () => download(r, "pdf"), "report-pdf-" + r.id),
        button("Excel", () => download(r, "xlsx"), "report-xlsx-" + r.id)) },
    ], res.data.items, { caption: t("reports.list.title"), captionHidden: true,
      empty: t("reports.list.empty") }));
  }

  async function onMake(ev) {
    ev.preventDefault();
    const form = ev.currentTarget;
    const msg = $("reports-make-msg");
    const body = { kind: form.elements.kind.value, period: form.elements.period.value.trim(),
      replace: form.elements.replace.checked };
    if (!body.period) return notice(msg, t("reports.make.required"), "error");
    notice(msg, t("reports.make.working"), "info");
    const res = await api("POST", "/reports", body);
    if (!res.ok) return notice(msg, errorText(res.error), "error");
    notice(msg, t(res.status === 201 ? "reports.make.made" : "reports.make.kept",
      { period: res.data.period }), "info");
    await load();
    await show(res.data);
  }

  function names(text) {  // "用地、融资, 税费" → ["用地", "融资", "税费"]
    return text.split(/[,，、;；\s]+/).map((x) => x.trim()).filter(Boolean);
  }

  async function onSpecial(ev) {
    ev.preventDefault();
    const form = ev.currentTarget;
    const msg = $("reports-special-msg");
    const body = { kind: "special", from: form.elements.from.value,
      to: form.elements.to.value, replace: form.elements.replace.checked };
    if (!body.from || !body.to) return notice(msg, t("reports.special.required"), "error");
    const tags = names(form.elements.tags.value);
    const units = names(form.elements.units.value);
    if (tags.length) body.tags = tags;
    if (units.length) body.units = units;
    notice(msg, t("reports.make.working"), "info");
    const res = await api("POST", "/reports", body);
    if (!res.ok) return notice(msg, errorText(res.error), "error");
    notice(msg, t(res.status === 201 ? "reports.special.made" : "reports.special.kept",
      { period: res.data.period }), "info");
    await load();
    await show(res.data);
  }

  window.ZT.boot({
    roles: ["dispatcher", "handler", "leader", "admin", "viewer", "supervisor", "reviewer"],
    onReady: (me) => {
      $("reports-filter").addEventListener("submit", (ev) => { ev.preventDefault(); load(); });
      $("r-kind").addEventListener("change", () => {
        $("r-period").placeholder = PLACEHOLDER[$("r-kind").value];
      });
      $("reports-make-form").addEventListener("submit", onMake);
      $("reports-special-form").addEventListener("submit", onSpecial);
      if (!["leader", "admin"].includes(me.role)) {
        $("reports-make").hidden = true;
        $("reports-special").hidden = true;
      }
      load();
    },
  });
})();
