/* 直通 — the joint meeting (联席会议): the next meeting's agenda (the issues at the
   joint-meeting step of the ladder), printable on A4, and the form that records for each
   issue the leader in charge, the decision and a deadline. */
"use strict";
(function () {
  const { t, h, $, notice, api, errorText, stateEl, table, cfg } = window.ZT;
  let meeting = "";

  function issueUrl(key) {
    return cfg.ui + "/workbench/issues/" + encodeURIComponent(key);
  }

  async function load() {
    const res = await api("GET", "/meetings/next" + (meeting ? "?date=" + encodeURIComponent(meeting) : ""));
    if (!res.ok) {
      notice($("meeting-error"), errorText(res.error), "error");
      return;
    }
    notice($("meeting-error"), "", "error");
    const a = res.data;
    meeting = a.meeting;
    $("m-date").value = a.meeting;
    $("meeting-meta").textContent = t("meeting.meta", { date: a.meeting, n: a.items.length });
    $("meeting-agenda").replaceChildren(table([
      { label: t("meeting.col.no"), num: true, render: (r) => String(r._no) },
      { label: t("workbench.col.number"), render: (r) => h("a", { href: issueUrl(r.issue_id), class: "mono" }, r.number) },
      { label: t("workbench.col.title"), render: (r) => r.title },
      { label: t("workbench.col.state"), render: (r) => stateEl(r.state) },
      { label: t("meeting.col.department"), render: (r) => r.department || "—" },
      { label: t("meeting.form.leader"), render: (r) => (r.decision ? r.decision.leader : "") },
      { label: t("meeting.form.decision"), render: (r) => (r.decision ? r.decision.decision : "") },
      { label: t("meeting.form.deadline"), render: (r) => (r.decision ? r.decision.deadline : "") },
    ], a.items.map((r, i) => Object.assign({ _no: i + 1 }, r)),
    { caption: t("meeting.agenda"), empty: t("meeting.empty") }));
    const open = a.items.filter((r) => !r.decision);
    $("d-issue").replaceChildren(
      h("option", { value: "" }, open.length ? t("meeting.form.choose") : t("meeting.form.none")),
      ...open.map((r) => h("option", { value: r.issue_id }, r.number + " · " + r.title)));
  }

  async function onDecision(ev) {
    ev.preventDefault();
    const form = ev.currentTarget;
    const msg = $("meeting-msg");
    const body = {
      issue: form.elements.issue.value,
      leader: form.elements.leader.value.trim(),
      decision: form.elements.decision.value.trim(),
      deadline: form.elements.deadline.value,
    };
    if (!body.issue || !body.leader || !body.decision || !body.deadline) {
      notice(msg, t("meeting.form.required"), "error");
      return;
    }
    const res = await api("POST", "/meetings/" + encodeURIComponent(meeting) + "/decisions", body);
    if (!res.ok) {
      notice(msg, errorText(res.error), "error");
      return;
    }
    form.reset();
    notice(msg, t("meeting.form.saved"), "info");
    await load();
  }

  window.ZT.boot({
    roles: ["dispatcher", "handler", "leader", "admin"],
    onReady: (me) => {
      $("meeting-date-form").addEventListener("submit", (ev) => {
        ev.preventDefault();
        meeting = $("m-date").value;
        load();
      });
      $("meeting-print").addEventListener("click", () => window.print());
      $("meeting-decision-form").addEventListener("submit", onDecision);
      if (!["leader", "admin"].includes(me.role)) $("meeting-decision-form").hidden = true;
      load();
    },
  });
})();
