/* 直通 — the case library (案例库) and reviews (问题复盘). Everyone on staff searches the
   published cases this node holds (its own and its subtree's) by kind, tag, unit and
   text. A leader or an admin writes the review of a closed issue (?subject=<number> from
   the issue page): root cause, gap, one measure with its reference, outcome, tags; saves
   it as a draft (created, then edited with its version) and publishes it as 典型案例 or
   负面案例, recording the enterprise's consent when it agreed to be named. */
"use strict";
(function () {
  const { t, h, $, notice, api, errorText, fmtTime, cfg } = window.ZT;
  let leads = false;

  function kindLabel(kind) {
    return t("cases.kind." + kind);
  }

  function caseItem(c) {
    const m = (c.measures || [])[0];
    return h("li", { class: "case-item case-" + c.kind, "data-case": c.id },
      h("p", { class: "case-head" },
        h("span", { class: "badge case-kind" }, kindLabel(c.kind)), " ",
        h("strong", { class: "case-title" }, c.title), " ",
        h("span", { class: "muted small" }, window.ZT.unitName(c.origin) + " · " + fmtTime(c.published_at))),
      c.root_cause ? h("p", { class: "small" }, t("cases.review.root_cause") + "：" + c.root_cause) : null,
      m ? h("p", { class: "small" }, t("cases.review.measure") + "：" + m.text + "（" + m.reference + "）") : null,
      c.outcome ? h("p", { class: "small" }, t("cases.review.outcome") + "：" + c.outcome) : null,
      (c.tags || []).length ? h("p", { class: "muted small" }, c.tags.join("、")) : null,
      c.enterprise ? h("p", { class: "muted small" }, t("cases.consented", { name: c.enterprise.name })) : null);
  }

  async function loadCases() {
    const form = $("cases-filter");
    const params = new URLSearchParams();
    for (const name of ["kind", "tag", "unit", "q"]) {
      const v = form.elements[name].value.trim();
      if (v) params.set(name, v);
    }
    const res = await api("GET", "/cases" + (params.toString() ? "?" + params : ""));
    if (!res.ok) {
      notice($("cases-error"), errorText(res.error), "error");
      return;
    }
    notice($("cases-error"), "", "error");
    $("cases-total").textContent = t("cases.total", { n: res.data.total });
    $("cases-list").replaceChildren(...(res.data.items.length ? res.data.items.map(caseItem)
      : [h("li", { class: "empty" }, t("cases.none"))]));
  }

  function fill(r) {
    const f = $("case-review-form");
    f.elements.id.value = r.id;
    f.elements.version.value = String(r.version);
    f.elements.subject.value = r.subject.number;
    f.elements.subject.readOnly = true;
    f.elements.title.value = r.title;
    f.elements.root_cause.value = r.root_cause || "";
    f.elements.gap.value = r.gap || "";
    const m = (r.measures || [])[0];
    f.elements.measure_kind.value = m ? m.kind : "rule";
    f.elements.measure_text.value = m ? m.text : "";
    f.elements.measure_reference.value = m ? m.reference : "";
    f.elements.outcome.value = r.outcome || "";
    f.elements.tags.value = (r.tags || []).join("，");
    $("case-publish-form").hidden = r.state !== "draft";
  }

  function draftBody(f) {
    const text = f.elements.measure_text.value.trim();
    const ref = f.elements.measure_reference.value.trim();
    return {
      title: f.elements.title.value.trim(),
      root_cause: f.elements.root_cause.value.trim() || null,
      gap: f.elements.gap.value.trim() || null,
      measures: text || ref ? [{ kind: f.elements.measure_kind.value, text: text, reference: ref }] : [],
      outcome: f.elements.outcome.value.trim() || null,
      tags: f.elements.tags.value.split(/[,，、\s]+/).map((s) => s.trim()).filter(Boolean),
    };
  }

  async function onSave(ev) {
    ev.preventDefault();
    const f = ev.currentTarget;
    const msg = $("review-msg");
    const id = f.elements.id.value;
    const body = draftBody(f);
    const res = id
      ? await api("PATCH", "/case-reviews/" + encodeURIComponent(id), Object.assign(body, { version: Number(f.elements.version.value) }))
      : await api("POST", "/case-reviews", Object.assign(body, { subject: f.elements.subject.value.trim() }));
    if (!res.ok) {
      notice(msg, errorText(res.error), "error");
      return;
    }
    fill(res.data);
    notice(msg, t("cases.review.saved"), "info");
  }

  async function onPublish(ev) {
    ev.preventDefault();
    const f = ev.currentTarget;
    const review = $("case-review-form");
    const msg = $("review-msg");
    const consent = f.elements.consent.checked;
    const note = f.elements.consent_note.value.trim();
    if (consent && !note) {
      notice(msg, t("cases.publish.consent_required"), "error");
      return;
    }
    const res = await api("POST", "/case-reviews/" + encodeURIComponent(review.elements.id.value) + "/publish", {
      version: Number(review.elements.version.value), kind: f.elements.kind.value,
      consent: consent ? note : null,
    });
    if (!res.ok) {
      notice(msg, errorText(res.error), "error");
      return;
    }
    fill(res.data.review);
    notice(msg, t("cases.publish.done", { kind: kindLabel(res.data.case.kind) }), "info");
    await loadCases();
  }

  async function loadSubject(subject) {
    $("case-review-form").elements.subject.value = subject;
    const res = await api("GET", "/case-reviews?subject=" + encodeURIComponent(subject));
    if (res.ok && res.data.length) fill(res.data[res.data.length - 1]);
  }

  window.ZT.boot({
    roles: ["dispatcher", "handler", "leader", "admin", "viewer", "supervisor", "reviewer", "intake"],
    onReady: async (me) => {
      $("cases-filter").addEventListener("submit", (ev) => {
        ev.preventDefault();
        loadCases();
      });
      leads = ["leader", "admin"].includes(me.role);
      $("review-card").hidden = !leads;
      if (leads) {
        $("case-review-form").addEventListener("submit", onSave);
        $("case-publish-form").addEventListener("submit", onPublish);
        const subject = new URLSearchParams(window.location.search).get("subject");
        if (subject) await loadSubject(subject);
      }
      await window.ZT.loadUnitNames();
      await loadCases();
      document.body.dataset.loaded = "1";
    },
  });
})();
