/* 直通 — 回访验收 on the operations page: the month's draws (the first one and any re-draw
   next to it), the supervision office's revisit tasks with their deadlines, the result form
   (满意 / 基本满意 / 不满意 / 未联系上, how contacted, notes) and a leader's re-draw with its
   reason. workbench.js boots the page; this script starts once the signed-in view shows. */
"use strict";
(function () {
  const { t, label, h, $, notice, api, errorText, fmtTime, stateEl, table, cfg } = window.ZT;
  let me = null;
  let period = "";

  function issueUrl(key) {
    return cfg.ui + "/workbench/issues/" + encodeURIComponent(key);
  }

  function taskState(task) {
    const key = task.overdue ? "overdue" : task.state;
    const cls = task.overdue ? " badge-stuck" : task.state === "done" ? " badge-ok" : "";
    return h("span", { class: "badge" + cls, "data-task-state": key }, t("ops.revisit.task." + key));
  }

  async function load() {
    const errorBox = $("revisit-error");
    const [draws, tasks] = await Promise.all([
      api("GET", "/revisit-samples?period=" + encodeURIComponent(period)),
      api("GET", "/revisit-tasks?period=" + encodeURIComponent(period)),
    ]);
    if (!draws.ok || !tasks.ok) {
      notice(errorBox, errorText((draws.ok ? tasks : draws).error), "error");
      return;
    }
    notice(errorBox, "", "error");
    $("revisit-draws").replaceChildren(table([
      { label: t("ops.revisit.col.draw"), render: (d) => (d.draw === 1 ? t("ops.revisit.first") : t("ops.revisit.redraw_n", { n: d.draw })) },
      { label: t("ops.revisit.col.sample"), num: true, render: (d) => String(d.id) },
      { label: t("ops.revisit.col.drawn"), render: (d) => fmtTime(d.drawn_at, true) + " · " + d.drawn_by },
      { label: t("ops.revisit.col.size"), render: (d) => d.selected.length + " / " + d.frame_size },
      { label: t("ops.revisit.col.reason"), render: (d) => d.reason || "—" },
      { label: t("ops.revisit.col.progress"), render: (d) => t("ops.revisit.progress_value", d.progress) },
    ], draws.data.draws, { caption: t("ops.revisit.draws"), captionHidden: true, empty: t("ops.revisit.no_draws") }));
    const items = tasks.data.items;
    $("revisit-tasks").replaceChildren(table([
      { label: t("workbench.col.number"), render: (r) => h("a", { href: issueUrl(r.issue_id), class: "mono" }, r.number) },
      { label: t("workbench.col.title"), render: (r) => r.title },
      { label: t("workbench.col.state"), render: (r) => stateEl(r.issue_state) },
      { label: t("ops.revisit.col.sample"), num: true, render: (r) => String(r.sample_id) },
      { label: t("ops.revisit.col.due"), render: (r) => fmtTime(r.due, true) },
      { label: t("ops.revisit.col.task"), render: (r) => taskState(r) },
      { label: t("ops.revisit.col.result"), render: (r) => (r.result ? label("revisit.", r.result)
        + (r.contact ? "（" + label("revisit.contact.", r.contact) + "）" : "") : "—") },
    ], items.map((r) => Object.assign({ _class: "task-" + r.state }, r)),
    { caption: t("ops.revisit.tasks"), captionHidden: true, empty: t("ops.revisit.no_tasks") }));
    const open = items.filter((r) => r.state === "open");
    const select = $("rv-task");
    select.replaceChildren(
      h("option", { value: "" }, open.length ? t("ops.revisit.form.choose") : t("ops.revisit.form.none")),
      ...open.map((r) => h("option", { value: String(r.id) }, r.number + " · " + r.title)));
  }

  async function onPeriod(ev) {
    ev.preventDefault();
    const value = ev.currentTarget.elements.period.value.trim();
    if (!/^\d{4}-\d{2}$/.test(value)) {
      notice($("revisit-error"), t("ops.sample.bad_period"), "error");
      return;
    }
    period = value;
    await load();
  }

  async function onResult(ev) {
    ev.preventDefault();
    const form = ev.currentTarget;
    const msg = $("revisit-result-msg");
    const task = form.elements.task.value;
    const checked = form.querySelector("input[name=result]:checked");
    const contact = form.elements.contact.value;
    if (!task || !checked || !contact) {
      notice(msg, t("ops.revisit.form.required"), "error");
      return;
    }
    const body = { result: checked.value, contact: contact };
    const note = form.elements.note.value.trim();
    if (note) body.note = note;
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    const res = await api("POST", "/revisit-tasks/" + encodeURIComponent(task) + "/result", body);
    button.disabled = false;
    if (!res.ok) {
      notice(msg, errorText(res.error), "error");
      return;
    }
    form.reset();
    notice(msg, t("ops.revisit.form.saved", { number: res.data.number, result: label("revisit.", res.data.result) }), "info");
    await load();
  }

  async function onRedraw(ev) {
    ev.preventDefault();
    const form = ev.currentTarget;
    const msg = $("revisit-redraw-msg");
    const reason = form.elements.reason.value.trim();
    if (!reason) {
      notice(msg, t("ops.revisit.redraw.need_reason"), "error");
      return;
    }
    const res = await api("POST", "/revisit-samples", { period: period, reason: reason });
    if (!res.ok) {
      notice(msg, errorText(res.error), "error");
      return;
    }
    form.reset();
    notice(msg, t("ops.revisit.redraw.done", { id: res.data.id }), "info");
    await load();
  }

  async function start() {
    const who = await api("GET", "/me");
    if (!who.ok) return;
    me = who.data;
    period = $("s-period").value || "";
    $("rv-period").value = period;
    $("revisit-period-form").addEventListener("submit", onPeriod);
    $("revisit-result-form").addEventListener("submit", onResult);
    $("revisit-redraw-form").addEventListener("submit", onRedraw);
    // a draw made with the form above (its result replaces #sample-result): show it here
    new MutationObserver(() => {
      period = $("s-period").value.trim() || period;
      $("rv-period").value = period;
      load();
    }).observe($("sample-result"), { childList: true });
    if (!["leader", "admin"].includes(me.role)) {
      $("revisit-result-form").hidden = true;
      $("revisit-redraw-form").hidden = true;
      notice($("revisit-result-msg"), t("ops.revisit.leaders_only"), "info");
    }
    await load();
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
