/* 直通 — the workbench's policy library (政策库): the list (this node's own policies and
   those that came from above, filtered by tag or text), a form to enter a policy and a
   spreadsheet upload (dry run first: every bad cell with its row, column, value and
   reason; nothing is written unless every row passes) for leaders and admins, and
   withdrawing or restoring this node's own policies.

   Everything goes through /api/v1/policies… (node/web/policies_api.py); after each change
   the list is read again, so the screen shows what the node holds. */
"use strict";
(function () {
  const { cfg, t, h, $, notice, session, api, errorText, fmtNum, table, label } = window.ZT;
  const INDUSTRIES = "ABCDEFGHIJKLMNOPQRST".split("");
  let me = null;

  const mayManage = () => me && (me.role === "admin" || me.role === "leader");

  function flash(text) {
    notice($("policies-error"), "", "error");
    notice($("policies-flash"), text, "ok");
  }

  function fail(error) {
    notice($("policies-flash"), "", "ok");
    notice($("policies-error"), errorText(error), "error");
  }

  const list = (items) => items.join("、");

  function validEl(p) {
    if (!p.valid_from && !p.valid_to) return t("policies.valid.open");
    return t("policies.valid.range", { from: p.valid_from || "—", to: p.valid_to || t("policies.valid.open") });
  }

  function conditionsEl(p) {
    const out = [];
    if (p.industries.length) out.push(t("policies.cond.industries", { list: list(p.industries.map((x) => label("policies.industry.", x))) }));
    if (p.sizes.length) out.push(t("policies.cond.sizes", { list: list(p.sizes.map((x) => label("policies.size.", x))) }));
    if (p.regions.length) out.push(t("policies.cond.regions", { list: list(p.regions) }));
    return out.length ? out.map((x) => h("div", null, x)) : t("policies.cond.all");
  }

  function stateEl(p) {
    if (!p.active) return h("span", { class: "badge badge-rejected" }, t("policies.state.withdrawn"));
    return p.in_force ? h("span", { class: "badge badge-ok" }, t("policies.state.in_force"))
      : h("span", { class: "badge" }, t("policies.state.not_in_force"));
  }

  function originEl(p) {
    return p.from_above
      ? h("span", { class: "badge badge-stuck" }, t("policies.origin.above", { node: p.origin }))
      : h("span", { class: "badge badge-ok" }, t("policies.origin.own"));
  }

  function actionsEl(p) {
    if (!mayManage() || p.from_above) return "—";
    const path = "/policies/" + encodeURIComponent(p.id) + (p.active ? "/withdraw" : "/restore");
    return h("button", { type: "button", class: "btn btn-quiet btn-small", "data-action": p.active ? "withdraw" : "restore",
      onclick: async () => {
        const res = await api("POST", path);
        if (!res.ok) return fail(res.error);
        await refresh();
        flash(t(p.active ? "policies.done.withdrawn" : "policies.done.restored", { title: p.title }));
      } }, t(p.active ? "policies.action.withdraw" : "policies.action.restore"));
  }

  function titleEl(p) {
    const head = p.link ? h("a", { href: p.link, rel: "noopener noreferrer", target: "_blank" }, p.title) : h("strong", null, p.title);
    return h("div", null, head, h("div", { class: "hint" }, p.summary));
  }

  async function refresh() {
    const form = $("filter-form");
    const params = new URLSearchParams();
    if (form.elements.tag.value.trim()) params.set("tag", form.elements.tag.value.trim());
    if (form.elements.q.value.trim()) params.set("q", form.elements.q.value.trim());
    if (form.elements.all.checked) params.set("all", "true");
    const res = await api("GET", "/policies" + (params.toString() ? "?" + params : ""));
    if (!res.ok) return fail(res.error);
    const tbl = table([
      { label: t("policies.col.title"), render: titleEl },
      { label: t("policies.col.issuer"), render: (p) => h("div", null, p.issuer, p.doc_number ? h("div", { class: "hint" }, p.doc_number) : null) },
      { label: t("policies.col.valid"), render: validEl },
      { label: t("policies.col.tags"), render: (p) => list(p.tags) },
      { label: t("policies.col.conditions"), render: conditionsEl },
      { label: t("policies.col.origin"), render: originEl },
      { label: t("policies.col.state"), render: stateEl },
      { label: t("policies.col.actions"), render: actionsEl },
    ], res.data.policies, { caption: t("policies.list.title"), captionHidden: true, empty: t("policies.empty") });
    tbl.id = "policies-table";
    for (const [i, p] of res.data.policies.entries()) tbl.tBodies[0].rows[i].dataset.id = p.id;
    $("policies-list").replaceChildren(tbl);
    return res;
  }

  const split = (text) => text.split(/[、;；,，\s]+/).map((x) => x.trim()).filter(Boolean);

  async function onCreate(ev) {
    ev.preventDefault();
    const f = ev.currentTarget;
    for (const el of f.elements) {
      if (el.required && !el.value.trim()) {
        fail({ message: t("action.required", { field: f.querySelector("label[for=" + el.id + "]").textContent }) });
        el.setAttribute("aria-invalid", "true");
        el.focus();
        return;
      }
      if (el.removeAttribute) el.removeAttribute("aria-invalid");
    }
    const value = (name) => f.elements[name].value.trim() || null;
    const body = {
      title: value("title"), issuer: value("issuer"), doc_number: value("doc_number"),
      valid_from: value("valid_from"), valid_to: value("valid_to"),
      tags: split(f.elements.tags.value),
      industries: Array.from(f.elements.industries.selectedOptions).map((o) => o.value),
      sizes: Array.from(f.querySelectorAll("input[name=sizes]:checked")).map((i) => i.value),
      regions: split(f.elements.regions.value), summary: value("summary"), link: value("link"),
    };
    const res = await api("POST", "/policies", body);
    if (!res.ok) return fail(res.error);
    f.reset();
    await refresh();
    flash(t("policies.done.created", { title: res.data.title }));
  }

  function reportEl(report) {
    const status = h("p", { class: report.status === "done" ? "notice notice-ok" : "notice" + (report.status === "refused" ? " notice-error" : ""), id: "policies-import-status" },
      t("policies.import.status." + report.status), " ",
      t("policies.import.result", { rows: fmtNum(report.rows), valid: fmtNum(report.valid), invalid: fmtNum(report.invalid),
        existing: fmtNum(report.existing), written: fmtNum(report.written) }));
    if (!report.problems.length) return [status];
    const problems = table([
      { label: t("policies.import.col.row"), render: (p) => p.row, num: true },
      { label: t("policies.import.col.column"), render: (p) => (cfg.lang === "en" ? p.column : p.column_zh) },
      { label: t("policies.import.col.value"), render: (p) => p.value || "—" },
      { label: t("policies.import.col.reason"), render: (p) => (cfg.lang === "en" ? p.reason_en : p.reason) },
    ], report.problems, { caption: t("policies.import.problems"), class: "problems" });
    problems.id = "policies-import-problems";
    return [status, problems];
  }

  async function onImport(ev) {
    ev.preventDefault();
    const f = ev.currentTarget;
    notice($("policies-error"), "", "error");
    $("policies-import-result").replaceChildren();
    const file = f.elements.file.files[0];
    if (!file) return fail({ message: t("policies.import.no_file") });
    const body = new FormData();
    body.append("file", file, file.name);
    body.append("dry_run", f.elements.dry_run.checked ? "true" : "false");
    const s = session.get();
    const button = f.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      let res;
      try {
        res = await fetch(cfg.api + "/policies/import", { method: "POST", body: body, credentials: "omit",
          headers: Object.assign({ Accept: "application/json" }, s ? { Authorization: "Bearer " + s.token } : {}) });
      } catch (e) {
        return fail({ message: t("err.network") });
      }
      let data = null;
      try { data = await res.json(); } catch (e) { data = null; }
      if (!res.ok) return fail(data && data.error);
      $("policies-import-result").replaceChildren(...reportEl(data));
      if (data.status === "done") await refresh();
    } finally {
      button.disabled = false;
    }
  }

  function ready(who) {
    me = who;
    for (const el of document.querySelectorAll(".manager-only")) el.hidden = !mayManage();
    $("policies-readonly").hidden = mayManage();
    $("pol-industries").replaceChildren(...INDUSTRIES.map((x) => h("option", { value: x }, x + " " + label("policies.industry.", x))));
    $("filter-form").addEventListener("submit", (ev) => { ev.preventDefault(); refresh(); });
    $("policy-form").addEventListener("submit", onCreate);
    $("policies-import-form").addEventListener("submit", onImport);
    $("policies-template").addEventListener("click", async () => {
      const error = await window.ZT.download("/policies/template.xlsx", "zhitong-policies-template.xlsx");
      if (error) fail(error);
    });
    refresh();
  }

  window.ZT.boot({ roles: ["dispatcher", "handler", "leader", "admin", "intake", "supervisor", "reviewer"], onReady: ready });
})();
