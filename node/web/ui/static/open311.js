/* 直通 — Open311 client systems (admin only): register a client system bound to one of the
   node's intake channels (its API key is shown once, the node keeps only its hash), list
   the clients with their state, revoke a key.

   Everything goes through /api/v1/admin/open311/… (node/web/open311.py); the channel
   names come from /api/v1/intake/channels. After each change the list is read again. */
"use strict";
(function () {
  const { t, h, $, notice, api, errorText, timeEl, table, cfg } = window.ZT;
  let channels = [];

  function flash(text) {
    notice($("o311-error"), "", "error");
    notice($("o311-flash"), text, "ok");
  }

  function fail(res) {
    notice($("o311-flash"), "", "ok");
    notice($("o311-error"), errorText(res.error), "error");
  }

  function channelName(id) {
    const c = channels.find((x) => x.id === id);
    if (!c) return id;
    return cfg.lang === "en" ? c.en : c.zh;
  }

  async function loadChannels() {
    const res = await api("GET", "/intake/channels");
    if (!res.ok) return fail(res);
    channels = res.data;
    $("o311-channel").replaceChildren(...channels.map((c) =>
      h("option", { value: c.id }, cfg.lang === "en" ? c.en : c.zh)));
  }

  async function revoke(c) {
    const res = await api("POST", "/admin/open311/clients/" + encodeURIComponent(c.id) + "/revoke");
    if (!res.ok) return fail(res);
    flash(t("open311.done.revoked", { name: c.name }));
    await refresh();
  }

  async function refresh() {
    const res = await api("GET", "/admin/open311/clients");
    if (!res.ok) return fail(res);
    const list = table([
      { label: t("open311.field.name"), render: (c) => c.name },
      { label: t("open311.field.channel"), render: (c) => channelName(c.channel) },
      { label: t("open311.field.key"), render: (c) => h("code", null, c.key_hint + "…") },
      { label: t("open311.field.created"), render: (c) => timeEl(c.created_at, true) },
      { label: t("open311.field.state"), render: (c) => c.active
        ? h("span", { class: "badge badge-ok" }, t("open311.state.active"))
        : h("span", { class: "badge badge-stuck" }, t("open311.state.revoked")) },
      { label: t("open311.field.actions"), render: (c) => c.active
        ? h("button", { type: "button", class: "btn btn-quiet btn-small", "data-action": "revoke",
            onclick: () => revoke(c) }, t("open311.action.revoke"))
        : null },
    ], res.data, { caption: t("open311.list.title"), captionHidden: true, empty: t("open311.list.none") });
    list.id = "o311-table";
    for (const [i, c] of res.data.entries()) list.tBodies[0].rows[i].dataset.client = c.id;
    $("o311-list").replaceChildren(list);
  }

  async function onCreate(ev) {
    ev.preventDefault();
    const form = $("o311-create-form");
    const body = { name: form.elements.name.value.trim(), channel: form.elements.channel.value };
    const res = await api("POST", "/admin/open311/clients", body);
    if (!res.ok) return fail(res);
    $("o311-key").textContent = res.data.api_key;
    $("o311-key-card").hidden = false;
    flash(t("open311.done.created", { name: res.data.name }));
    form.reset();
    await refresh();
  }

  async function ready() {
    $("o311-endpoint").textContent = location.origin + "/open311/discovery.json";
    $("o311-refresh").addEventListener("click", refresh);
    $("o311-create-form").addEventListener("submit", onCreate);
    await loadChannels();
    await refresh();
  }

  window.ZT.boot({ roles: ["admin"], onReady: ready });
})();
