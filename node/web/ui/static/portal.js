/* 直通 — the enterprise portal: submit an issue, follow it, urge, rate. */
"use strict";
(function () {
  const { cfg, t, label, h, $, notice, api, errorText, newKey, fmtTime, timeEl, dueEl, countdown,
    lightEl, stateEl, renderTimeline } = window.ZT;
  const page = document.body.dataset.page;

  function issueUrl(issue) {
    return cfg.ui + "/portal/issues/" + encodeURIComponent(issue.number);
  }

  // ---------------------------------------------------------------- home: submit + list

  let submitKey = newKey(); // one key per filled-in form: a retried submit is not doubled

  function markInvalid(form, field) {
    for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
    const el = field && form.elements[field];
    if (el && el.setAttribute) {
      el.setAttribute("aria-invalid", "true");
      el.focus();
    }
  }

  async function loadMine() {
    const box = $("my-issues");
    box.setAttribute("aria-busy", "true");
    const res = await api("GET", "/issues?limit=100");
    box.setAttribute("aria-busy", "false");
    if (!res.ok) {
      box.replaceChildren(h("p", { class: "notice notice-error", role: "alert" }, errorText(res.error)));
      return;
    }
    const items = res.data.items;
    if (!items.length) {
      box.replaceChildren(h("p", { class: "empty" }, t("portal.mine.empty")));
      return;
    }
    box.replaceChildren(h("ul", { class: "issue-list" }, items.map((i) =>
      h("li", { class: "issue-item" },
        h("a", { class: "issue-link", href: issueUrl(i) },
          h("span", { class: "issue-title" }, i.title),
          h("span", { class: "issue-meta" },
            h("span", { class: "mono" }, i.number), " · ", t("portal.mine.received"), " ",
            timeEl(i.received_at))),
        h("span", { class: "issue-status" }, stateEl(i.state), i.light ? lightEl(i.light) : null)))));
  }

  async function onSubmit(ev, me) {
    ev.preventDefault();
    const form = ev.currentTarget;
    const errorBox = $("submit-error");
    const f = form.elements;
    for (const name of ["enterprise_name", "contact_phone", "title", "content"]) {
      if (!f[name].value.trim()) {
        notice(errorBox, t("portal.submit.required", { field: form.querySelector("label[for=" + f[name].id + "]").textContent }), "error");
        markInvalid(form, name);
        return;
      }
    }
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    const res = await api("POST", "/issues", {
      enterprise_name: f.enterprise_name.value.trim(),
      credit_code: me.credit_code,
      contact_phone: f.contact_phone.value.trim(),
      channel: "online",
      title: f.title.value.trim(),
      content: f.content.value.trim(),
    }, { "Idempotency-Key": submitKey });
    button.disabled = false;
    if (!res.ok) {
      notice(errorBox, errorText(res.error), "error");
      const d = res.error.details || {};
      markInvalid(form, d.field || (d.problems && d.problems[0] && d.problems[0].field));
      return;
    }
    submitKey = newKey();
    sessionStorage.setItem("zt.flash", t("portal.submit.done", { number: res.data.number }));
    location.assign(issueUrl(res.data));
  }

  function home(me) {
    const form = $("submit-form");
    form.elements.enterprise_name.value = me.display_name;
    form.elements.credit_code.value = me.credit_code || "";
    form.addEventListener("submit", (ev) => onSubmit(ev, me));
    $("mine-refresh").addEventListener("click", loadMine);
    loadMine();
  }

  // ---------------------------------------------------------------- one issue

  let current = null;
  let ticker = null;

  function renderStatus(issue) {
    const box = $("status");
    const rows = [h("p", { class: "status-line" }, stateEl(issue.state, issue.timeline),
      issue.light ? lightEl(issue.light) : null)];
    if (issue.deadline && issue.light) {
      rows.push(h("div", { class: "deadline deadline-" + issue.light },
        h("p", { class: "deadline-kind" }, label("deadline.", issue.deadline.kind),
          " · ", t("portal.status.due"), " ", dueEl(issue.deadline.due)),
        h("p", { class: "countdown", id: "countdown" }, countdown(issue.deadline.due)),
        h("p", { class: "hint" }, t("portal.status.countdown_note"))));
    } else if (issue.state === "closed" || issue.state === "resolved") {
      rows.push(h("p", { class: "hint" }, t("portal.status.finished")));
    }
    if (issue.urge_count) rows.push(h("p", { class: "hint" }, t("portal.status.urged", { n: issue.urge_count })));
    box.replaceChildren(...rows);
    clearInterval(ticker);
    if (issue.deadline && issue.light) {
      ticker = setInterval(() => {
        const el = $("countdown");
        if (el) el.textContent = countdown(issue.deadline.due);
      }, 15000);
    }
  }

  function renderIssue(issue) {
    current = issue;
    $("issue").replaceChildren(h("div", { class: "issue-head" },
      h("h1", { class: "page-title" }, issue.title),
      h("p", { class: "issue-number" }, t("portal.issue.number"), " ", h("span", { class: "mono", id: "issue-number" }, issue.number))));
    $("issue").setAttribute("aria-busy", "false");
    $("issue-body").hidden = false;
    renderStatus(issue);
    $("urge-box").hidden = !issue.allowed_actions.includes("urge");
    $("reply-card").hidden = !issue.reply;
    $("reply-text").textContent = issue.reply || "";
    const canRate = issue.allowed_actions.includes("accept") || issue.allowed_actions.includes("reopen");
    $("rate-card").hidden = !canRate;
    const facts = [
      ["portal.field.enterprise_name", issue.enterprise.name],
      ["portal.field.credit_code", issue.enterprise.credit_code],
      ["portal.field.contact_phone", issue.enterprise.contact_phone],
      ["portal.field.channel", label("channel.", issue.channel)],
      ["portal.field.received_at", fmtTime(issue.received_at)],
    ];
    if (issue.rating) facts.push(["portal.field.rating", label("rating.", issue.rating)]);
    $("facts").replaceChildren(...facts.flatMap(([k, v]) => [h("dt", null, t(k)), h("dd", null, v)]));
    $("content-text").textContent = issue.content;
    renderTimeline($("timeline"), issue.timeline, false);
  }

  async function loadIssue() {
    const res = await api("GET", "/issues/" + encodeURIComponent(cfg.key));
    if (!res.ok) {
      $("issue").replaceChildren(h("p", { class: "notice notice-error", role: "alert" }, errorText(res.error)));
      $("issue-body").hidden = true;
      return;
    }
    renderIssue(res.data);
  }

  async function onUrge() {
    const out = $("urge-result");
    const button = $("urge-btn");
    button.disabled = true;
    const res = await api("POST", "/issues/" + encodeURIComponent(current.id) + "/urge", {});
    button.disabled = false;
    if (res.ok) {
      notice(out, t("portal.urge.done"), "ok");
      await loadIssue();
      return;
    }
    let text = errorText(res.error);
    const next = res.error.details && res.error.details.next_allowed_at;
    if (res.error.code === "urge_too_soon" && next) {
      // The message names the time as an ISO timestamp: show it as local (CST) time.
      const local = fmtTime(next) + t("common.cst");
      text = text.includes(next) ? text.replace(next, local) : text + " " + local;
    }
    notice(out, text, "warn");
  }

  async function onRate(ev) {
    ev.preventDefault();
    const form = ev.currentTarget;
    const errorBox = $("rate-error");
    const rating = form.elements.rating.value;
    if (!rating) {
      notice(errorBox, t("portal.rate.required"), "error");
      form.querySelector("input[name=rating]").focus();
      return;
    }
    const comment = form.elements.comment.value.trim();
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    const res = await api("POST", "/issues/" + encodeURIComponent(current.id) + "/rate",
      { rating: rating, comment: comment || null, expected_version: current.version });
    button.disabled = false;
    if (!res.ok) {
      notice(errorBox, errorText(res.error), "error");
      if (res.error.code === "conflict") loadIssue();
      return;
    }
    notice(errorBox, "", "error");
    form.reset();
    // 202: the issue is handled by a higher tier; the rating is forwarded and the result
    // comes back down in a moment
    const key = res.status === 202 ? "portal.rate.forwarded"
      : (rating === "unsatisfied" ? "portal.rate.reopened" : "portal.rate.done");
    notice($("flash"), t(key), "ok");
    await loadIssue();
  }

  function issuePage() {
    const flash = sessionStorage.getItem("zt.flash");
    if (flash) {
      sessionStorage.removeItem("zt.flash");
      notice($("flash"), flash, "ok");
    }
    $("urge-btn").addEventListener("click", onUrge);
    $("rate-form").addEventListener("submit", onRate);
    loadIssue();
    const live = window.ZT.live;
    if (live) {  // the issue changed: read it again, the new steps marked in the timeline
      const refresh = live.coalesce(async () => {
        const before = current ? Math.max(0, ...current.timeline.map((e) => e.version)) : 0;
        await loadIssue();
        if (current) live.markNew($("timeline"), current.timeline.filter((e) => e.version > before).length);
      }, 200);
      live.on("issue", (d) => {
        if (current && d.issue_id === current.id && d.issue_version !== current.version) refresh();
      });
      live.on("reload", refresh);
    }
  }

  window.ZT.boot({
    roles: ["enterprise"],
    upperCaseUsername: true,
    onReady: page === "portal_issue" ? issuePage : home,
  });
})();
