/* 直通 — the workbench's audit screen (supervisors and admins): the audit trail filtered by
   time range, actor, action, target and outcome, newest first, with more pages on request
   (keyset: the page's next_cursor), and its export as .xlsx or .csv.

   Reads GET /api/v1/audit and GET /api/v1/audit/export (node/web/audit_api.py). Times in
   the form are China time; downloads carry the bearer token, so they are fetched and saved
   from a blob. */
"use strict";
(function () {
  const { cfg, t, h, $, notice, api, errorText, timeEl, table } = window.ZT;
  const PAGE = 100;
  let cursor = null;
  let shown = [];

  function fail(error) {
    notice($("audit-error"), errorText(error), "error");
  }

  /** The form's filter as query parameters ("datetime-local" values get China's offset). */
  function filterQuery() {
    const form = $("audit-filter");
    const q = new URLSearchParams();
    for (const name of ["since", "until"]) {
      const v = form.elements[name].value;
      if (v) q.set(name, (v.length === 16 ? v + ":00" : v) + "+08:00");
    }
    for (const name of ["actor", "action", "target_kind", "target_id", "outcome"]) {
      const v = form.elements[name].value.trim();
      if (v) q.set(name, v);
    }
    return q;
  }

  function detailText(d) {
    const keys = Object.keys(d || {});
    if (!keys.length) return "—";
    return keys.map((k) => k + "=" + (typeof d[k] === "object" ? JSON.stringify(d[k]) : String(d[k]))).join("; ");
  }

  function render() {
    const tbl = table([
      { label: t("audit.col.seq"), num: true, render: (r) => String(r.seq) },
      { label: t("audit.col.at"), render: (r) => timeEl(r.at, true) },
      { label: t("audit.col.actor"), render: (r) => r.actor + (r.actor_role ? "（" + r.actor_role + "）" : "") },
      { label: t("audit.col.address"), render: (r) => r.address || "—" },
      { label: t("audit.col.action"), render: (r) => h("span", { class: "mono" }, r.action) },
      { label: t("audit.col.target"), render: (r) => r.target_kind ? r.target_kind + " " + (r.target_id || "") : "—" },
      { label: t("audit.col.outcome"), render: (r) => h("span", { class: "badge " + (r.outcome === "refused" ? "badge-rejected" : "badge-ok") }, t("audit.outcome." + r.outcome)) },
      { label: t("audit.col.detail"), render: (r) => detailText(r.detail) },
    ], shown.map((r) => Object.assign({ _class: "audit-row" }, r)),
    { caption: t("audit.list.title"), captionHidden: true, empty: t("audit.empty") });
    tbl.id = "audit-table";
    $("audit-list").replaceChildren(tbl);
    $("audit-more").hidden = !cursor;
  }

  async function load(more) {
    const q = filterQuery();
    q.set("limit", String(PAGE));
    if (more && cursor) q.set("cursor", cursor);
    const res = await api("GET", "/audit?" + q.toString());
    if (!res.ok) return fail(res.error);
    notice($("audit-error"), "", "error");
    shown = more ? shown.concat(res.data.items) : res.data.items;
    cursor = res.data.next_cursor;
    render();
  }

  async function download(format) {
    const q = filterQuery();
    q.set("format", format);
    q.set("lang", cfg.lang);
    const error = await window.ZT.download("/audit/export?" + q.toString(), "zhitong-audit." + format);
    if (error) fail(error);
  }

  function ready() {
    $("audit-filter").addEventListener("submit", (ev) => { ev.preventDefault(); load(false); });
    $("audit-more").addEventListener("click", () => load(true));
    $("audit-export-xlsx").addEventListener("click", () => download("xlsx"));
    $("audit-export-csv").addEventListener("click", () => download("csv"));
    load(false);
  }

  window.ZT.boot({ roles: ["supervisor", "admin"], onReady: ready });
})();
