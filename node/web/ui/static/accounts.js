/* 直通 — the workbench's account administration (admin only): the accounts with their
   state, editing one (display name, role, department, board, its units and its role in
   each), a new password, disabling and enabling, new accounts, the names and addresses
   that must wait after failed sign-ins (with an unlock), and the audit of every change.
   The units to choose from are this node's active ones (GET /api/v1/units).

   Everything goes through /api/v1/admin/… (node/web/admin_accounts.py); after each change
   the lists are read again, so the screen shows what the node holds. */
"use strict";
(function () {
  const { t, h, $, notice, api, errorText, label, timeEl, table } = window.ZT;
  let editing = null;
  let units = {}; // id → name, this node's active units

  function unitLabel(id) {
    return units[id] || id;
  }

  function membershipsOf(a) {
    if (!a.units || !a.units.length) return "—";
    return a.units.map((m) => unitLabel(m.unit) + " · " + label("role.", m.role)).join("；");
  }

  async function loadUnits() {
    const res = await api("GET", "/units");
    if (!res.ok) return;
    units = {};
    for (const u of res.data) units[u.id] = u.name;
    $("u-unit").replaceChildren(...res.data.map((u) => h("option", { value: u.id }, u.name)));
  }

  function renderUnits(a) {
    const u = encodeURIComponent(a.username);
    const list = table([
      { label: t("accounts.units.unit"), render: (m) => unitLabel(m.unit) },
      { label: t("accounts.units.role"), render: (m) => label("role.", m.role) },
      { label: t("accounts.field.actions"), render: (m) => h("button", {
        type: "button", class: "btn btn-quiet btn-small", "data-action": "remove-unit",
        onclick: async () => {
          const res = await change("DELETE", "/admin/accounts/" + u + "/units/"
            + encodeURIComponent(m.unit) + "/" + encodeURIComponent(m.role), undefined,
          t("accounts.done.unit_removed", { name: a.username, unit: unitLabel(m.unit) }));
          if (res) renderUnits(res.data);
        } }, t("accounts.units.remove")) },
    ], a.units || [], { caption: t("accounts.units.title"), captionHidden: true,
      empty: t("accounts.units.none") });
    list.id = "units-table";
    $("edit-units").replaceChildren(list);
  }

  function flash(text) {
    notice($("accounts-error"), "", "error");
    notice($("accounts-flash"), text, "ok");
  }

  function fail(res) {
    notice($("accounts-flash"), "", "ok");
    notice($("accounts-error"), errorText(res.error), "error");
  }

  function stateOf(a) {
    if (!a.active) return h("span", { class: "badge badge-stuck" }, t("accounts.state.disabled"));
    if (a.locked) return h("span", { class: "badge badge-rejected" }, t("accounts.state.locked"));
    if (a.blocked_until) return h("span", { class: "badge badge-rejected" }, t("accounts.state.waiting"));
    return h("span", { class: "badge badge-ok" }, t("accounts.state.active"));
  }

  async function change(method, path, body, done) {
    const res = await api(method, path, body);
    if (!res.ok) return fail(res);
    flash(done);
    await refresh();
    return res;
  }

  function rowActions(a) {
    const u = encodeURIComponent(a.username);
    const name = a.display_name + "（" + a.username + "）";
    return h("div", { class: "row-actions" },
      h("button", { type: "button", class: "btn btn-quiet btn-small", "data-action": "edit",
        onclick: () => openEdit(a) }, t("accounts.action.edit")),
      a.active
        ? h("button", { type: "button", class: "btn btn-quiet btn-small", "data-action": "disable",
            onclick: () => change("POST", "/admin/accounts/" + u + "/disable", undefined,
              t("accounts.done.disabled", { name: name })) }, t("accounts.action.disable"))
        : h("button", { type: "button", class: "btn btn-quiet btn-small", "data-action": "enable",
            onclick: () => change("POST", "/admin/accounts/" + u + "/enable", undefined,
              t("accounts.done.enabled", { name: name })) }, t("accounts.action.enable")),
      a.blocked_until
        ? h("button", { type: "button", class: "btn btn-quiet btn-small", "data-action": "unlock",
            onclick: () => change("POST", "/admin/accounts/" + u + "/unlock", undefined,
              t("accounts.done.unlocked", { name: a.username })) }, t("accounts.action.unlock"))
        : null);
  }

  function openEdit(a) {
    editing = a.username;
    const form = $("edit-form");
    $("edit-username").textContent = a.display_name + "（" + a.username + "）";
    form.elements.display_name.value = a.display_name;
    form.elements.role.value = a.role;
    form.elements.department.value = a.department || "";
    form.elements.board.value = a.board || "";
    $("password-form").reset();
    renderUnits(a);
    $("edit-card").hidden = false;
    form.elements.display_name.focus();
  }

  async function refresh() {
    const [accounts, locks, audit] = await Promise.all([
      api("GET", "/admin/accounts"), api("GET", "/admin/lockouts"),
      api("GET", "/admin/account-events?limit=50")]);
    if (!accounts.ok) return fail(accounts);
    const staff = accounts.data.filter((a) => a.role !== "enterprise");
    const list = table([
      { label: t("accounts.field.username"), render: (a) => a.username },
      { label: t("accounts.field.display_name"), render: (a) => a.display_name },
      { label: t("accounts.field.role"), render: (a) => label("role.", a.role) },
      { label: t("accounts.field.department"), render: (a) => a.department ? unitLabel(a.department) : a.board ? unitLabel(a.board) : "—" },
      { label: t("accounts.field.units"), render: membershipsOf },
      { label: t("accounts.field.state"), render: stateOf },
      { label: t("accounts.field.actions"), render: rowActions },
    ], staff.map((a) => Object.assign({ _class: "account-row" }, a)),
    { caption: t("accounts.list.title"), captionHidden: true });
    list.id = "accounts-table";
    for (const [i, a] of staff.entries()) list.tBodies[0].rows[i].dataset.username = a.username;
    $("accounts-list").replaceChildren(list);
    if (locks.ok) {
      const lt = table([
        { label: t("accounts.locks.kind"), render: (x) => t("accounts.locks.kind." + x.kind) },
        { label: t("accounts.locks.name"), render: (x) => x.name },
        { label: t("accounts.locks.failures"), num: true, render: (x) => String(x.failures) },
        { label: t("accounts.locks.until"), render: (x) => timeEl(x.blocked_until, true) },
        { label: t("accounts.field.actions"), render: (x) => h("button", {
          type: "button", class: "btn btn-quiet btn-small",
          onclick: () => (x.kind === "address"
            ? change("POST", "/admin/lockouts/unlock-address", { address: x.name },
              t("accounts.done.unlocked", { name: x.name }))
            : change("POST", "/admin/accounts/" + encodeURIComponent(x.name) + "/unlock", undefined,
              t("accounts.done.unlocked", { name: x.name }))) }, t("accounts.action.unlock")) },
      ], locks.data, { caption: t("accounts.locks.title"), captionHidden: true, empty: t("accounts.locks.none") });
      lt.id = "locks-table";
      $("accounts-locks").replaceChildren(lt);
    }
    if (audit.ok) {
      const at = table([
        { label: t("accounts.audit.at"), render: (e) => timeEl(e.at, true) },
        { label: t("accounts.audit.actor"), render: (e) => e.actor === "system" ? t("accounts.audit.system") : e.actor },
        { label: t("accounts.audit.subject"), render: (e) => e.subject.replace(/^account:/, "") },
        { label: t("accounts.audit.kind"), render: (e) => t("accounts.event." + e.kind)
          + (e.detail && e.detail.unit ? "：" + unitLabel(e.detail.unit) + " · " + label("role.", e.detail.role) : "") },
      ], audit.data, { caption: t("accounts.audit.title"), captionHidden: true });
      at.id = "audit-table";
      $("accounts-audit").replaceChildren(at);
    }
    return accounts;
  }

  function text(form, name) {
    return form.elements[name].value.trim();
  }

  async function onCreate(ev) {
    ev.preventDefault();
    const form = ev.currentTarget;
    const body = {
      username: text(form, "username"), display_name: text(form, "display_name"),
      role: form.elements.role.value, password: form.elements.password.value,
      department: text(form, "department") || null, board: text(form, "board") || null,
    };
    const res = await change("POST", "/admin/accounts", body,
      t("accounts.done.created", { name: body.display_name + "（" + body.username + "）" }));
    if (res) form.reset();
  }

  async function onEdit(ev) {
    ev.preventDefault();
    const form = ev.currentTarget;
    const body = { display_name: text(form, "display_name"), role: form.elements.role.value,
      department: text(form, "department"), board: text(form, "board") };
    await change("PATCH", "/admin/accounts/" + encodeURIComponent(editing), body,
      t("accounts.done.saved", { name: editing }));
  }

  async function onUnit(ev) {
    ev.preventDefault();
    const form = ev.currentTarget;
    const unit = form.elements.unit.value;
    const res = await change("POST", "/admin/accounts/" + encodeURIComponent(editing) + "/units",
      { unit: unit, role: form.elements.role.value },
      t("accounts.done.unit_added", { name: editing, unit: unitLabel(unit) }));
    if (res) renderUnits(res.data);
  }

  async function onPassword(ev) {
    ev.preventDefault();
    const form = ev.currentTarget;
    const res = await change("POST", "/admin/accounts/" + encodeURIComponent(editing) + "/password",
      { password: form.elements.password.value }, t("accounts.done.password", { name: editing }));
    if (res) form.reset();
  }

  function ready() {
    $("accounts-refresh").addEventListener("click", refresh);
    $("create-form").addEventListener("submit", onCreate);
    $("edit-form").addEventListener("submit", onEdit);
    $("password-form").addEventListener("submit", onPassword);
    $("unit-form").addEventListener("submit", onUnit);
    loadUnits().then(refresh);
  }

  window.ZT.boot({ roles: ["admin"], onReady: ready });
})();
