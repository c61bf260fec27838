/* 直通 — 疑似重复 and 并单 on the workbench's issue page.

   GET /api/v1/issues/{key}/duplicates lists the likely duplicates (score, same
   enterprise, whether each can be merged here); the dispatcher picks the master (主件:
   this issue or one of them) and ticks the issues to merge into it, and POST
   /issues/{master}/merge {followers} merges them. GET /issues/{key}/merges shows the
   merges this issue is in; a leader undoes one with POST /issues/{follower}/unmerge.
   After a merge or an unmerge the page is loaded again, so every card shows the new
   state. Runs once the page's own script has signed in (the "zt:ready" event of zt.js). */
"use strict";
(function () {
  const { cfg, t, h, $, notice, api, errorText, label } = window.ZT;
  const MERGERS = new Set(["dispatcher", "leader", "admin"]);
  const UNMERGERS = new Set(["leader", "admin"]);
  let me = null;

  const issueUrl = (key) => cfg.ui + "/workbench/issues/" + encodeURIComponent(key);
  const path = (key, rest) => "/issues/" + encodeURIComponent(key) + rest;

  function candidateRow(c, mayMerge) {
    return h("li", { class: "merge-item", "data-id": c.id },
      mayMerge && c.mergeable ? h("label", { class: "choice" },
        h("input", { type: "checkbox", name: "follower", value: c.id, "data-number": c.number }),
        " ", t("workbench.merge.include")) : null,
      " ", h("a", { href: issueUrl(c.number) }, c.number), " ", h("strong", null, c.title),
      " ", h("span", { class: "badge badge-" + c.state }, label("state.", c.state)),
      c.same_enterprise ? h("span", { class: "badge badge-ok" }, t("workbench.merge.same_enterprise")) : null,
      h("div", { class: "hint" }, c.enterprise_name, " · ",
        t("workbench.merge.score", { score: Math.round(c.score * 100) }),
        c.mergeable ? "" : " · " + t("workbench.merge.not_mergeable")),
      mayMerge && c.mergeable ? h("label", { class: "choice" },
        h("input", { type: "radio", name: "master", value: c.id }), " ", t("workbench.merge.as_master")) : null);
  }

  function renderCandidates(items) {
    const mayMerge = MERGERS.has(me.role);
    const box = $("duplicates-list");
    if (!items.length) {
      box.replaceChildren(h("p", { class: "muted", id: "duplicates-none" }, t("workbench.merge.none")));
      return;
    }
    const form = h("form", { id: "merge-form", class: "form", novalidate: true },
      h("ul", { class: "merge-list" }, items.map((c) => candidateRow(c, mayMerge))),
      mayMerge && items.some((c) => c.mergeable) ? h("div", null,
        h("label", { class: "choice" }, h("input", { type: "radio", name: "master", value: cfg.key,
          checked: true }), " ", t("workbench.merge.this_master")),
        h("div", { class: "filter-buttons" },
          h("button", { type: "submit", class: "btn", id: "merge-submit" }, t("workbench.merge.button")))) : null);
    form.addEventListener("submit", onMerge);
    box.replaceChildren(form);
  }

  async function onMerge(ev) {
    ev.preventDefault();
    const form = ev.currentTarget;
    const master = (form.querySelector("input[name=master]:checked") || {}).value || cfg.key;
    const ticked = [...form.querySelectorAll("input[name=follower]:checked")].map((x) => x.value);
    const chosen = new Set(ticked);
    if (master !== cfg.key) chosen.add(cfg.key);  // this issue follows the chosen master
    chosen.delete(master);
    if (!chosen.size) return notice($("merge-error"), t("workbench.merge.choose"), "error");
    const res = await api("POST", path(master, "/merge"), { followers: [...chosen] });
    if (!res.ok) return notice($("merge-error"), errorText(res.error), "error");
    window.location.reload();
  }

  function renderLinks(links) {
    const box = $("merges-list");
    const active = links.filter((l) => !l.unmerged_at);
    if (!links.length) {
      box.replaceChildren();
      return;
    }
    const mayUnmerge = UNMERGERS.has(me.role);
    box.replaceChildren(h("h3", null, t("workbench.merge.history")), h("ul", { class: "merge-links" },
      links.map((l) => {
        const asFollower = !l.follower_number;  // this issue's own merged_into
        const other = asFollower ? l.master_number || l.master : l.follower_number;
        const followerKey = asFollower ? cfg.key : l.follower;
        return h("li", { class: "merge-link", "data-follower": followerKey },
          t(asFollower ? "workbench.merge.into" : "workbench.merge.follower"), " ",
          h("a", { href: issueUrl(other) }, other),
          l.unmerged_at ? h("span", { class: "badge" }, t("workbench.merge.undone")) : null,
          !l.unmerged_at && mayUnmerge ? h("button", { type: "button", class: "btn btn-quiet btn-small",
            "data-action": "unmerge", onclick: () => unmerge(followerKey) }, t("workbench.merge.unmerge")) : null);
      })));
    $("duplicates-card").dataset.merged = active.length ? "1" : "";
  }

  async function unmerge(followerKey) {
    const res = await api("POST", path(followerKey, "/unmerge"), {});
    if (!res.ok) return notice($("merge-error"), errorText(res.error), "error");
    window.location.reload();
  }

  async function load() {
    const [dups, links] = await Promise.all([api("GET", path(cfg.key, "/duplicates")),
      api("GET", path(cfg.key, "/merges"))]);
    if (!dups.ok && !links.ok) return;  // the page's own script shows why
    $("duplicates-card").hidden = false;
    if (dups.ok) renderCandidates(dups.data.items);
    if (links.ok) renderLinks(links.data);
  }

  window.ZT.whenReady((ev) => {
    me = ev.detail;
    if (!$("duplicates-card") || !cfg.key || !me || me.role === "enterprise") return;
    load();
  });
})();
