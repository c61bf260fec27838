/* 直通 — the workbench's tag library (标签库): the tree of categories and tags (this
   node's own, and those that came from above, which cannot be changed here), new
   categories and tags, renaming, deactivating, merging (admin), the tags proposed during
   triage with their approval (leader, admin), and the change log.

   Everything goes through /api/v1/admin/tags… (node/web/admin_tags.py); after each change
   the tree is read again, so the screen shows what the node holds. */
"use strict";
(function () {
  const { t, h, $, notice, api, errorText, timeEl, table } = window.ZT;
  let me = null;
  let tree = null;
  let names = {};  // entry id → its Chinese name (what the screen shows for ids)

  function flash(text) {
    notice($("tags-error"), "", "error");
    notice($("tags-flash"), text, "ok");
  }

  function fail(res) {
    notice($("tags-flash"), "", "ok");
    notice($("tags-error"), errorText(res.error), "error");
  }

  /** One change; on success `after` runs first (a form clears), then the tree is read
      again, and only then the flash says it is done (so what it says is on screen). */
  async function change(method, path, body, done, after) {
    const res = await api(method, path, body);
    if (!res.ok) {
      fail(res);
      return null;
    }
    if (after) after();
    await refresh();
    flash(done);
    return res;
  }

  const isAdmin = () => me && me.role === "admin";
  const mayApprove = () => me && (me.role === "admin" || me.role === "leader");
  const nameOf = (e) => e.name_zh + (e.name_en ? " / " + e.name_en : "");

  function originEl(e) {
    return e.from_above
      ? h("span", { class: "badge badge-stuck" }, t("tags.origin.above", { node: e.origin }))
      : h("span", { class: "badge badge-ok" }, t("tags.origin.own"));
  }

  function stateEl(e) {
    if (e.merged_into) return h("span", { class: "badge" }, t("tags.state.merged", { into: names[e.merged_into] || e.merged_into }));
    return e.active ? h("span", { class: "badge badge-ok" }, t("tags.state.active"))
      : h("span", { class: "badge badge-rejected" }, t("tags.state.inactive"));
  }

  function rowActions(e) {
    if (!isAdmin() || e.from_above || e.merged_into) return "—";
    const id = encodeURIComponent(e.id);
    return e.active
      ? h("button", { type: "button", class: "btn btn-quiet btn-small", "data-action": "deactivate",
          onclick: () => change("POST", "/admin/tags/" + id + "/deactivate", undefined,
            t("tags.done.deactivated", { name: e.name_zh })) }, t("tags.action.deactivate"))
      : h("button", { type: "button", class: "btn btn-quiet btn-small", "data-action": "reactivate",
          onclick: () => change("POST", "/admin/tags/" + id + "/reactivate", undefined,
            t("tags.done.reactivated", { name: e.name_zh })) }, t("tags.action.reactivate"));
  }

  function rows() {
    const out = [];
    for (const c of tree.categories) {
      out.push(Object.assign({ _class: "category-row", kind: "category" }, c));
      for (const x of c.tags) out.push(Object.assign({ _class: "tag-row", kind: "tag" }, x));
    }
    return out;
  }

  function options(select, entries, empty) {
    const keep = select.value;
    select.replaceChildren(h("option", { value: "" }, empty || t("action.choose")),
      ...entries.map((e) => h("option", { value: e.id }, nameOf(e))));
    if (entries.some((e) => e.id === keep)) select.value = keep;
  }

  function fillForms() {
    const cats = tree.categories.filter((c) => c.active && !c.id.startsWith("?"));
    const tags = tree.categories.flatMap((c) => c.tags);
    const live = tags.filter((x) => x.active && !x.merged_into);
    const own = (e) => !e.from_above;
    options($("tag-cat"), cats);
    options($("prop-cat"), cats);
    options($("rename-entry"), [...tree.categories.filter(own), ...tags.filter((x) => own(x) && !x.merged_into)]);
    options($("merge-source"), live.filter(own));
    options($("merge-into"), live);
  }

  async function refresh() {
    const [res, proposals, changes] = await Promise.all([
      api("GET", "/admin/tags"), api("GET", "/admin/tags/proposals"),
      api("GET", "/admin/tags/changes?limit=50")]);
    if (!res.ok) return fail(res);
    tree = res.data;
    names = {};
    for (const c of tree.categories) {
      names[c.id] = c.name_zh;
      for (const x of c.tags) names[x.id] = x.name_zh;
    }
    $("tags-in-force").hidden = !tree.in_force;
    $("tags-not-in-force").hidden = tree.in_force;
    const list = table([
      { label: t("tags.col.name"), render: (e) => (e.kind === "tag" ? h("span", { class: "tag-name" }, "　" + nameOf(e)) : h("strong", null, nameOf(e))) },
      { label: t("tags.col.kind"), render: (e) => t("tags.kind." + e.kind) },
      { label: t("tags.col.id"), render: (e) => h("span", { class: "mono" }, e.id) },
      { label: t("tags.col.origin"), render: originEl },
      { label: t("tags.col.state"), render: stateEl },
      { label: t("tags.col.actions"), render: rowActions },
    ], rows(), { caption: t("tags.tree.title"), captionHidden: true, empty: t("tags.tree.empty") });
    list.id = "tags-table";
    for (const [i, e] of rows().entries()) {
      list.tBodies[0].rows[i].dataset.id = e.id;
      list.tBodies[0].rows[i].dataset.name = e.name_zh;
    }
    $("tags-tree").replaceChildren(list);
    fillForms();
    if (proposals.ok) {
      const pt = table([
        { label: t("tags.field.name_zh"), render: (p) => p.name_zh },
        { label: t("tags.field.category"), render: (p) => names[p.category] || p.category },
        { label: t("tags.proposals.by"), render: (p) => p.proposed_by },
        { label: t("tags.proposals.at"), render: (p) => timeEl(p.proposed_at, true) },
        { label: t("tags.col.actions"), render: (p) => (mayApprove() ? h("div", { class: "row-actions" },
          h("button", { type: "button", class: "btn btn-small btn-primary", "data-action": "approve",
            onclick: () => change("POST", "/admin/tags/proposals/" + p.id + "/approve", undefined,
              t("tags.done.approved", { name: p.name_zh })) }, t("tags.action.approve")),
          h("button", { type: "button", class: "btn btn-small btn-quiet", "data-action": "refuse",
            onclick: () => change("POST", "/admin/tags/proposals/" + p.id + "/refuse", undefined,
              t("tags.done.refused", { name: p.name_zh })) }, t("tags.action.refuse"))) : "—") },
      ], proposals.data, { caption: t("tags.proposals.title"), captionHidden: true, empty: t("tags.proposals.none") });
      pt.id = "proposals-table";
      $("tags-proposals").replaceChildren(pt);
    }
    if (changes.ok) {
      const ct = table([
        { label: t("tags.changes.at"), render: (c) => timeEl(c.at, true) },
        { label: t("tags.changes.actor"), render: (c) => c.actor },
        { label: t("tags.changes.kind"), render: (c) => t("tags.change." + c.kind) },
        { label: t("tags.col.id"), render: (c) => h("span", { class: "mono" }, c.subject) },
      ], changes.data, { caption: t("tags.changes.title"), captionHidden: true });
      ct.id = "changes-table";
      $("tags-changes").replaceChildren(ct);
    }
    return res;
  }

  const text = (form, name) => form.elements[name].value.trim();

  function submitter(id, build) {
    $(id).addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const form = ev.currentTarget;
      for (const el of form.elements) {
        if (el.required && !el.value.trim()) {
          notice($("tags-error"), t("action.required", { field: form.querySelector("label[for=" + el.id + "]").textContent }), "error");
          el.setAttribute("aria-invalid", "true");
          el.focus();
          return;
        }
        if (el.removeAttribute) el.removeAttribute("aria-invalid");
      }
      const [method, path, body, done] = build(form);
      await change(method, path, body, done, () => form.reset());
    });
  }

  function ready(who) {
    me = who;
    for (const el of document.querySelectorAll(".admin-only")) el.hidden = !isAdmin();
    $("tags-refresh").addEventListener("click", refresh);
    submitter("category-form", (f) => ["POST", "/admin/tags/categories",
      { name_zh: text(f, "name_zh"), name_en: text(f, "name_en") || null },
      t("tags.done.category", { name: text(f, "name_zh") })]);
    submitter("tag-form", (f) => ["POST", "/admin/tags",
      { category: f.elements.category.value, name_zh: text(f, "name_zh"), name_en: text(f, "name_en") || null },
      t("tags.done.tag", { name: text(f, "name_zh") })]);
    submitter("rename-form", (f) => ["PATCH", "/admin/tags/" + encodeURIComponent(f.elements.entry.value),
      { name_zh: text(f, "name_zh"), name_en: text(f, "name_en") || null },
      t("tags.done.renamed", { name: text(f, "name_zh") })]);
    submitter("merge-form", (f) => ["POST", "/admin/tags/" + encodeURIComponent(f.elements.source.value) + "/merge",
      { into: f.elements.into.value }, t("tags.done.merged")]);
    submitter("propose-form", (f) => ["POST", "/admin/tags/proposals",
      { category: f.elements.category.value, name_zh: text(f, "name_zh"), note: text(f, "note") || null },
      t("tags.done.proposed", { name: text(f, "name_zh") })]);
    refresh();
  }

  window.ZT.boot({ roles: ["dispatcher", "handler", "leader", "admin", "intake", "supervisor", "reviewer"], onReady: ready });
})();
