/* 直通 — "可能适用的政策" on an issue's page: the workbench's (the handler sees the
   policies that match the tags, the enterprise's industry and size and its unit,
   and attaches one to the reply) and the portal's (the enterprise sees them, with those
   the handler recommended, and may tell its industry and size — kept only with its
   consent — so the matching is more precise).

   GET /api/v1/issues/{key}/policies; POST …/policies {policy_id} and DELETE
   …/policies/{id} attach and detach; GET·PUT /api/v1/enterprise-profile (portal). It runs
   once the page's own script has signed in (the "zt:ready" event of zt.js). */
"use strict";
(function () {
  const { cfg, t, h, $, notice, api, errorText, label } = window.ZT;
  const portal = cfg.app === "portal";
  const p = portal ? "portal.policies." : "workbench.policies.";
  let me = null;

  const list = (items) => items.join("、");

  function policyEl(m, attachedIds, mayAttach) {
    const attached = attachedIds.has(m.id);
    const facts = [m.issuer, m.doc_number, m.valid_to ? t("policies.valid.range", { from: m.valid_from || "—", to: m.valid_to }) : null]
      .filter(Boolean).join(" · ");
    return h("li", { class: "policy-item", "data-id": m.id },
      h("strong", { class: "policy-title" }, m.title),
      attached ? h("span", { class: "badge badge-ok" }, t(p + "attached")) : null,
      h("div", { class: "hint" }, facts),
      h("p", null, m.summary),
      m.shared_tags && m.shared_tags.length ? h("div", { class: "hint" }, t(p + "shared", { list: list(m.shared_tags) })) : null,
      m.unknown && m.unknown.length ? h("div", { class: "hint" }, t(p + "unknown", { list: list(m.unknown.map((u) => t(p + "unknown." + u))) })) : null,
      m.link ? h("a", { href: m.link, rel: "noopener noreferrer", target: "_blank" }, t(p + "link")) : null,
      mayAttach ? h("div", { class: "row-actions" }, attached
        ? h("button", { type: "button", class: "btn btn-quiet btn-small", "data-action": "detach",
            onclick: () => change("DELETE", "/" + encodeURIComponent(m.id)) }, t(p + "detach"))
        : h("button", { type: "button", class: "btn btn-small", "data-action": "attach",
            onclick: () => change("POST", "", { policy_id: m.id }) }, t(p + "attach"))) : null);
  }

  /** Attach (POST "") or detach (DELETE "/<policy id>"); the answer is the new list. */
  async function change(method, suffix, body) {
    const res = await api(method, "/issues/" + encodeURIComponent(cfg.key) + "/policies" + suffix, body);
    if (!res.ok) return notice($("policies-issue-error"), errorText(res.error), "error");
    notice($("policies-issue-error"), "", "error");
    render(res.data);
  }

  function render(data) {
    const attachedIds = new Set(data.attached.map((a) => a.id));
    const mayAttach = !portal;
    const box = $("policies-issue-list");
    const items = [];
    if (portal && data.attached.length) {
      items.push(h("h3", null, t(p + "recommended")),
        h("ul", { class: "policy-list", id: "policies-recommended" }, data.attached.map((a) => policyEl(a, attachedIds, false))));
    }
    const others = portal ? data.matches.filter((m) => !attachedIds.has(m.id)) : data.matches;
    if (!others.length && !(portal && data.attached.length)) items.push(h("p", { class: "muted", id: "policies-none" }, t(p + "none")));
    if (others.length) items.push(h("ul", { class: "policy-list", id: "policies-matches" }, others.map((m) => policyEl(m, attachedIds, mayAttach))));
    box.replaceChildren(...items);
    $("policies-card").hidden = false;
    if (portal) fillProfile(data.profile);
  }

  function fillProfile(profile) {
    const f = $("profile-form");
    if (!f || f.dataset.filled) return;
    f.dataset.filled = "1";
    f.elements.industry.replaceChildren(h("option", { value: "" }, t(p + "profile.choose")),
      ..."ABCDEFGHIJKLMNOPQRST".split("").map((x) => h("option", { value: x }, label("policies.industry.", x))));
    f.elements.industry.value = profile.industry || "";
    f.elements.size.value = profile.size || "";
    f.elements.consent.checked = !!profile.consented;
  }

  async function onProfile(ev) {
    ev.preventDefault();
    const f = ev.currentTarget;
    const consent = f.elements.consent.checked;
    const res = await api("PUT", "/enterprise-profile", {
      industry: consent ? f.elements.industry.value || null : null,
      size: consent ? f.elements.size.value || null : null, consent: consent });
    if (!res.ok) return notice($("profile-result"), errorText(res.error), "error");
    notice($("profile-result"), t(consent ? p + "profile.saved" : p + "profile.cleared"), "ok");
    if (!consent) { f.elements.industry.value = ""; f.elements.size.value = ""; }
    await load();
  }

  async function load() {
    const res = await api("GET", "/issues/" + encodeURIComponent(cfg.key) + "/policies");
    if (!res.ok) return;  // the page's own script shows why the issue is not there
    render(res.data);
  }

  window.ZT.whenReady((ev) => {
    me = ev.detail;
    if (!$("policies-card") || !cfg.key || !me) return;
    const f = $("profile-form");
    if (f) f.addEventListener("submit", onProfile);
    load();
  });
})();
