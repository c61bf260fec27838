/* 直通 — 共性问题 on the operations page of a node with units below it (a city).

   GET /api/v1/clusters/proposals lists groups of similar open issues of two or more of its
   counties (compared at the city from the replicas it holds: no text travels for it);
   a dispatcher names the cluster and confirms the members it keeps with POST /clusters
   {title, members}, which opens one common issue here that handles them all (and is
   escalated once if need be). GET /clusters lists the confirmed ones, each linked to its
   common issue. A county has no units below it: the card stays hidden there. Starts once
   the page has signed in (ZT.whenReady). */
"use strict";
(function () {
  const { cfg, t, h, $, notice, api, errorText, unitName, fmtTime, label } = window.ZT;
  const CONFIRMERS = new Set(["dispatcher", "leader", "admin"]);
  let me = null;

  const issueUrl = (key) => cfg.ui + "/workbench/issues/" + encodeURIComponent(key);
  const hasUnitsBelow = () => /00$/.test(cfg.node || "") && !/0000$/.test(cfg.node || "");

  function proposalForm(p, i) {
    const mayConfirm = me && CONFIRMERS.has(me.role);
    const titleId = "cluster-title-" + i;
    const form = h("form", { class: "form cluster-proposal", "data-index": String(i), novalidate: true },
      h("p", { class: "hint" }, t("ops.clusters.units", { units: p.origins.map(unitName).join("、") }),
        " · ", t("ops.clusters.score", { score: Math.round(p.score * 100) })),
      h("ul", { class: "merge-list" }, p.members.map((m) => h("li", { class: "cluster-member", "data-id": m.id },
        mayConfirm ? h("label", { class: "choice" },
          h("input", { type: "checkbox", name: "member", value: m.id, checked: true }), " ",
          t("ops.clusters.include")) : null,
        " ", h("a", { href: issueUrl(m.id) }, m.number), " ", h("strong", null, m.title),
        " ", h("span", { class: "badge badge-" + m.state }, label("state.", m.state)),
        h("div", { class: "hint" }, unitName(m.owner), " · ", m.enterprise_name)))),
      mayConfirm ? h("div", { class: "form-inline" },
        h("div", { class: "field" }, h("label", { for: titleId }, t("ops.clusters.name")),
          h("input", { id: titleId, name: "title", required: true, maxlength: "100",
            value: (p.members[0] || {}).title || "" })),
        h("div", { class: "filter-buttons" },
          h("button", { type: "submit", class: "btn btn-primary" }, t("ops.clusters.confirm")))) : null);
    form.addEventListener("submit", onConfirm);
    return form;
  }

  async function onConfirm(ev) {
    ev.preventDefault();
    const form = ev.currentTarget;
    const members = [...form.querySelectorAll("input[name=member]:checked")].map((x) => x.value);
    const title = form.elements.title.value.trim();
    if (!title) {
      notice($("clusters-error"), t("ops.clusters.need_title"), "error");
      return;
    }
    if (members.length < 2) {
      notice($("clusters-error"), t("ops.clusters.need_two"), "error");
      return;
    }
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    const res = await api("POST", "/clusters", { title: title, members: members });
    button.disabled = false;
    if (!res.ok) {
      notice($("clusters-error"), errorText(res.error), "error");
      return;
    }
    notice($("clusters-error"), "", "error");
    notice($("clusters-notice"), t("ops.clusters.created", { number: res.data.common_issue.number }), "ok");
    await load();
  }

  function renderDone(items) {
    const list = window.ZT.table([
      { label: t("ops.clusters.col.title"), render: (c) => h("a", { href: issueUrl(c.common_issue_id) }, c.title) },
      { label: t("ops.clusters.col.members"), render: (c) => h("span", null, c.members.map((m, i) =>
        h("span", null, i ? "、" : "", h("a", { href: issueUrl(m.id) }, m.number), "（", unitName(m.origin), "）"))) },
      { label: t("ops.clusters.col.by"), render: (c) => c.created_by.replace(/^staff:/, "") },
      { label: t("ops.clusters.col.at"), render: (c) => fmtTime(c.created_at) },
    ], items.map((c) => Object.assign({ _class: "cluster-row" }, c)),
    { caption: t("ops.clusters.done"), captionHidden: true, empty: t("ops.clusters.none_done") });
    list.id = "clusters-table";
    $("clusters-list").replaceChildren(list);
  }

  async function load() {
    const [proposed, done] = await Promise.all([api("GET", "/clusters/proposals"), api("GET", "/clusters")]);
    const card = $("clusters-card");
    if (!proposed.ok && (proposed.status === 403 || proposed.status === 404)) {
      card.hidden = true;
      return;
    }
    card.hidden = false;
    if (!proposed.ok) {
      notice($("clusters-error"), errorText(proposed.error), "error");
      return;
    }
    notice($("clusters-error"), "", "error");
    $("clusters-proposals").replaceChildren(...(proposed.data.length ? proposed.data.map(proposalForm) :
      [h("p", { class: "muted", id: "clusters-none" }, t("ops.clusters.none"))]));
    if (done.ok) renderDone(done.data);
  }

  window.ZT.whenReady((ev) => {
    me = ev.detail;
    if (!$("clusters-card") || !me || me.role === "enterprise" || !hasUnitsBelow()) return;
    $("clusters-refresh").addEventListener("click", load);
    load();
  });
})();
