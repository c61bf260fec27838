/* 直通 — 否定报备 联审 on the operations page: this node's rejections waiting for review
   (GET /api/v1/reviews), who rejected each (who may not review it), the reason, the due
   time and the light — an overdue review is red and counted in the heading. Shown to those
   who answer for reviews (the review unit's leader and reviewers, admins, supervisors);
   for anyone else the API answers 403 and the section stays hidden. workbench.js boots the
   page; this script starts once the signed-in view shows. */
"use strict";
(function () {
  const { t, h, $, notice, api, errorText, dueEl, lightEl, table, cfg } = window.ZT;

  function issueLink(r) {
    return h("a", { href: cfg.ui + "/workbench/issues/" + encodeURIComponent(r.id) }, r.number);
  }

  async function load() {
    const overdue = $("reviews-overdue").checked;
    const res = await api("GET", "/reviews" + (overdue ? "?overdue=true" : ""));
    const card = $("reviews-card");
    if (!res.ok && res.status === 403) {
      card.hidden = true;
      return;
    }
    card.hidden = false;
    if (!res.ok) {
      notice($("reviews-error"), errorText(res.error), "error");
      return;
    }
    notice($("reviews-error"), "", "error");
    const late = res.data.filter((r) => r.overdue).length;
    $("reviews-h").textContent = t("ops.reviews.title") + (late ? " · " + t("ops.reviews.late", { n: late }) : "");
    const list = table([
      { label: t("ops.reviews.col.number"), render: issueLink },
      { label: t("ops.reviews.col.title"), render: (r) => r.title },
      { label: t("ops.reviews.col.rejected_by"), render: (r) => (r.rejected_by || "—").replace(/^staff:/, "") },
      { label: t("ops.reviews.col.reason"), render: (r) => r.rejection_reason || "—" },
      { label: t("ops.reviews.col.due"), render: (r) => (r.due ? dueEl(r.due) : "—") },
      { label: t("ops.reviews.col.light"), render: (r) => lightEl(r.light) },
    ], res.data.map((r) => Object.assign({ _class: r.overdue ? "review-row review-overdue" : "review-row" }, r)),
    { caption: t("ops.reviews.title"), captionHidden: true, empty: t("ops.reviews.none") });
    list.id = "reviews-table";
    $("reviews-list").replaceChildren(list);
  }

  function start() {
    $("reviews-refresh").addEventListener("click", load);
    $("reviews-overdue").addEventListener("change", load);
    load();
  }

  const view = $("app-view");
  let started = false;
  function maybeStart() {
    if (!started && !view.hidden) {
      started = true;
      start();
    }
  }
  new MutationObserver(maybeStart).observe(view, { attributes: true, attributeFilter: ["hidden"] });
  maybeStart();
})();
