/* 直通 — the joint meeting (联席会议): the next meeting's agenda (the issues at the
   joint-meeting step of the ladder), printable on A4, the form that records for each
   issue the leader in charge, the decision and a deadline, and the button that escalates
   what the meeting cannot solve to the next tier with its decision as the reason. */
"use strict";
(function () {
  const { t, h, $, notice, api, errorText, stateEl, table, cfg } = window.ZT;
  let meeting = "";
  let leads = false; // a leader or an admin: records decisions, escalates what stays unsolved

  function issueUrl(key) {
    return cfg.ui + "/workbench/issues/" + encodeURIComponent(key);
  }

  async function load() {
    await window.ZT.loadUnitNames();  // the agenda names departments by unit id
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
      { label: t("meeting.col.department"), render: (r) => window.ZT.unitLabel(r.department) || "—" },
      { label: t("meeting.form.leader"), render: (r) => (r.decision ? r.decision.leader : "") },
      { label: t("meeting.form.decision"), render: (r) => (r.decision ? r.decision.decision : "") },
      { label: t("meeting.form.deadline"), render: (r) => (r.decision ? r.decision.deadline : "") },
      { label: t("meeting.col.unsolved"), render: (r) => (r.decision && leads ? escalateButton(r) : "") },
    ], a.items.map((r, i) => Object.assign({ _no: i + 1 }, r)),
    { caption: t("meeting.agenda"), empty: t("meeting.empty") }));
    const open = a.items.filter((r) => !r.decision);
    $("d-issue").replaceChildren(
      h("option", { value: "" }, open.length ? t("meeting.form.choose") : t("meeting.form.none")),
      ...open.map((r) => h("option", { value: r.issue_id }, r.number + " · " + r.title)));
  }

  // what the meeting cannot solve goes to the next tier in one step, its decision as reason
  function escalateButton(r) {
    const b = h("button", { type: "button", class: "btn btn-danger btn-quiet", "data-escalate": r.number }, t("meeting.escalate"));
    b.addEventListener("click", async () => {
      b.disabled = true;
      const res = await api("POST", "/meetings/" + encodeURIComponent(meeting) + "/escalations", { issue: r.issue_id });
      if (!res.ok) {
        b.disabled = false;
        notice($("meeting-msg"), errorText(res.error), "error");
        return;
      }
      notice($("meeting-msg"), t("meeting.escalate.done", { number: r.number }), "info");
      await load();
    });
    return b;
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
      leads = ["leader", "admin"].includes(me.role);
      if (!leads) $("meeting-decision-form").hidden = true;
      load();
    },
  });
})();
