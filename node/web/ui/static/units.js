/* 直通 — the workbench's organisation units (admin only): the centre's catalogue (hub,
   boards, zones, 兜底办, joint meeting, departments under their bureau, 督查室, 营商局 联审)
   with kind, names and state; renaming or moving one, deactivating and reactivating it,
   new units, and the log of every change.

   Everything goes through /api/v1/admin/units… (node/web/admin_units.py); after each
   change the lists are read again. Issues hold unit ids, so a rename moves no issue. */
"use strict";
(function () {
  const { t, h, $, notice, api, errorText, timeEl, table } = window.ZT;
  let editing = null;
  let catalogue = [];

  function flash(text) {
    notice($("units-error"), "", "error");
    notice($("units-flash"), text, "ok");
  }

  function fail(res) {
    notice($("units-flash"), "", "ok");
    notice($("units-error"), errorText(res.error), "error");
  }

  async function change(method, path, body, done) {
    const res = await api(method, path, body);
    if (!res.ok) return fail(res);
    flash(done(res.data));
    await refresh();
    return res;
  }

  function stateOf(u) {
    return u.active ? h("span", { class: "badge badge-ok" }, t("units.state.active"))
      : h("span", { class: "badge badge-stuck" }, t("units.state.inactive"));
  }

  function rowActions(u) {
    const path = "/admin/units/" + encodeURIComponent(u.id);
    return h("div", { class: "row-actions" },
      h("button", { type: "button", class: "btn btn-quiet btn-small", "data-action": "edit",
        onclick: () => openEdit(u) }, t("units.action.edit")),
      u.active
        ? h("button", { type: "button", class: "btn btn-quiet btn-small", "data-action": "deactivate",
            onclick: () => change("POST", path + "/deactivate", undefined,
              (x) => t("units.done.deactivated", { name: x.name })) }, t("units.action.deactivate"))
        : h("button", { type: "button", class: "btn btn-quiet btn-small", "data-action": "reactivate",
            onclick: () => change("POST", path + "/reactivate", undefined,
              (x) => t("units.done.reactivated", { name: x.name })) }, t("units.action.reactivate")));
  }

  function parentOptions(select, except) {
    const keep = select.options[0];
    select.replaceChildren(keep, ...catalogue
      .filter((u) => u.kind === "department" && u.id !== except)
      .map((u) => h("option", { value: u.id }, u.name)));
  }

  function openEdit(u) {
    editing = u.id;
    const form = $("unit-edit-form");
    $("unit-edit-id").textContent = u.id;
    parentOptions(form.elements.parent_id, u.id);
    form.elements.name_zh.value = u.name_zh;
    form.elements.name_en.value = u.name_en || "";
    form.elements.parent_id.value = u.parent_id || "";
    form.elements.external_code.value = u.external_code || "";
    $("unit-edit-card").hidden = false;
    form.elements.name_zh.focus();
  }

  async function refresh() {
    const [units, events] = await Promise.all([api("GET", "/admin/units"),
      api("GET", "/admin/unit-events?limit=50")]);
    if (!units.ok) return fail(units);
    catalogue = units.data;
    parentOptions($("unit-create-form").elements.parent_id, null);
    const list = table([
      { label: t("units.field.id"), render: (u) => h("span", { class: "mono" }, u.id) },
      { label: t("units.field.kind"), render: (u) => t("units.kind." + u.kind) },
      { label: t("units.field.name"), render: (u) => u.name },
      { label: t("units.field.parent"), render: (u) => u.parent_name || "—" },
      { label: t("units.field.state"), render: stateOf },
      { label: t("units.field.actions"), render: rowActions },
    ], catalogue, { caption: t("units.list.title"), captionHidden: true, empty: t("units.none") });
    list.id = "units-table";
    for (const [i, u] of catalogue.entries()) list.tBodies[0].rows[i].dataset.unit = u.id;
    $("units-list").replaceChildren(list);
    if (events.ok) {
      const et = table([
        { label: t("units.events.at"), render: (e) => timeEl(e.at, true) },
        { label: t("units.events.actor"), render: (e) => e.actor },
        { label: t("units.events.unit"), render: (e) => h("span", { class: "mono" }, e.unit_id) },
        { label: t("units.events.kind"), render: (e) => t("units.event." + e.kind) },
        { label: t("units.field.name"), render: (e) => (e.before && e.before.name_zh !== e.after.name_zh
          ? e.before.name_zh + " → " + e.after.name_zh : e.after.name_zh) },
      ], events.data, { caption: t("units.events.title"), captionHidden: true });
      et.id = "unit-events-table";
      $("units-events").replaceChildren(et);
    }
    return units;
  }

  function text(form, name) {
    return form.elements[name].value.trim();
  }

  async function onCreate(ev) {
    ev.preventDefault();
    const form = ev.currentTarget;
    const body = { slug: text(form, "slug"), kind: form.elements.kind.value,
      name_zh: text(form, "name_zh"), name_en: text(form, "name_en") || null,
      parent_id: form.elements.parent_id.value || null,
      external_code: text(form, "external_code") || null };
    const res = await change("POST", "/admin/units", body,
      (u) => t("units.done.created", { name: u.name, id: u.id }));
    if (res) form.reset();
  }

  async function onEdit(ev) {
    ev.preventDefault();
    const form = ev.currentTarget;
    const body = { name_zh: text(form, "name_zh"), name_en: text(form, "name_en"),
      parent_id: form.elements.parent_id.value, external_code: text(form, "external_code") };
    await change("PATCH", "/admin/units/" + encodeURIComponent(editing), body,
      (u) => t("units.done.saved", { name: u.name }));
  }

  function ready() {
    $("units-refresh").addEventListener("click", refresh);
    $("unit-create-form").addEventListener("submit", onCreate);
    $("unit-edit-form").addEventListener("submit", onEdit);
    refresh();
  }

  window.ZT.boot({ roles: ["admin"], onReady: ready });
})();
