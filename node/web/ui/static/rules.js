/* 直通 — the rules in force (规则与底线): every deadline, the revisit share, the urge interval
   and the index weights this node applies, each with where it comes from — this node's
   configuration, an administrator's change, or the floor a node above set (its code and
   version); the alarms (an own value looser than a floor that arrived meanwhile: the floor
   applies); and, for an administrator, this node's own rules, which the node refuses when
   looser than a floor (the refusal names the floor).

   GET /api/v1/rules and PUT /api/v1/admin/rules (node/web/admin_rules.py); after a change
   the screen reads the rules again, so it shows what the node holds. */
"use strict";
(function () {
  const { t, h, $, notice, api, errorText, label, table } = window.ZT;
  let own = null; // this node's own rules, as the API last answered

  function flash(text) {
    notice($("rules-error"), "", "error");
    notice($("rules-flash"), text, "ok");
  }

  function fail(res) {
    notice($("rules-flash"), "", "ok");
    notice($("rules-error"), errorText(res.error), "error");
  }

  /** "deadlines.per_channel.meeting.resolve_working_days" → "政企恳谈会 · 办理时限" */
  function ruleLabel(rule) {
    const parts = rule.split(".");
    if (parts[0] === "deadlines") {
      const stage = t("rules.stage." + parts[parts.length - 1].replace("_working_days", ""));
      if (parts[1] === "per_tag") return t("rules.scope.tag", { tag: parts.slice(2, -1).join(".") }) + " · " + stage;
      if (parts[1] === "per_channel") return label("channel.", parts.slice(2, -1).join(".")) + " · " + stage;
      return t("rules.scope.default") + " · " + stage;
    }
    if (rule === "revisit.share") return t("rules.revisit_share");
    if (rule === "urge.interval_hours") return t("rules.urge_hours");
    if (parts[0] === "index_weights") return t("rules.weight", { name: parts.slice(1).join(".") });
    return rule;
  }

  function valueText(rule, value) {
    if (value === null || value === undefined) return "—";
    if (rule.startsWith("deadlines.")) return t("rules.days", { n: value });
    if (rule === "revisit.share") return Math.round(value * 100) + "%";
    if (rule === "urge.interval_hours") return t("rules.hours", { n: value });
    return String(value);
  }

  function sourceText(source) {
    if (!source) return "—";
    if (source.from === "floor") return t("rules.source.floor", { node: source.issuer, version: source.version });
    if (source.from === "admin") return t("rules.source.admin", { version: source.version });
    return t("rules.source.config");
  }

  function fill(data) {
    own = data.own;
    const form = $("rules-form");
    const d = own.deadlines;
    form.elements.dispatch.value = d.dispatch_working_days;
    form.elements.resolve.value = d.resolve_working_days;
    form.elements.review.value = d.review_working_days;
    const meeting = own.per_channel.meeting || {};
    form.elements.meeting_dispatch.value = meeting.dispatch_working_days || "";
    form.elements.meeting_resolve.value = meeting.resolve_working_days || "";
    form.elements.share.value = Math.round(own.revisit_share * 100);
    form.elements.urge.value = own.urge_interval_hours;
    $("own-source").textContent = sourceText(data.own_source);
  }

  async function refresh() {
    const res = await api("GET", "/rules");
    if (!res.ok) return fail(res);
    const data = res.data;
    const rows = table([
      { label: t("rules.col.rule"), render: (r) => ruleLabel(r.rule) },
      { label: t("rules.col.value"), num: true, render: (r) => valueText(r.rule, r.value) },
      { label: t("rules.col.source"), render: (r) => h("span", { class: r.overridden ? "badge badge-rejected" : null }, sourceText(r.source)) },
      { label: t("rules.col.floor"), num: true, render: (r) => r.floor === null ? "—" : valueText(r.rule, r.floor) + "（" + sourceText(r.floor_source) + "）" },
    ], data.rules.map((r) => Object.assign({ _class: "rule-row" }, r)),
    { caption: t("rules.effective.title"), captionHidden: true });
    rows.id = "rules-table";
    for (const [i, r] of data.rules.entries()) rows.tBodies[0].rows[i].dataset.rule = r.rule;
    $("rules-effective").replaceChildren(rows);
    const alarms = data.alarms || [];
    $("alarms-card").hidden = alarms.length === 0;
    $("rules-alarms").replaceChildren(...alarms.map((a) => h("li", { "data-rule": a.rule },
      t("rules.alarm", { rule: ruleLabel(a.rule), value: valueText(a.rule, a.value),
        floor: valueText(a.rule, a.floor), node: a.issuer, version: a.version }))));
    const floors = table([
      { label: t("rules.floors.issuer"), render: (f) => f.issuer },
      { label: t("rules.floors.version"), num: true, render: (f) => String(f.version) },
      { label: t("rules.floors.body"), render: (f) => h("code", null, JSON.stringify(f.body)) },
    ], data.floors, { caption: t("rules.floors.title"), captionHidden: true, empty: t("rules.floors.none") });
    floors.id = "floors-table";
    $("rules-floors").replaceChildren(floors);
    fill(data);
    return res;
  }

  function days(form, name) {
    const raw = form.elements[name].value.trim();
    return raw === "" ? null : Number(raw);
  }

  async function onSave(ev) {
    ev.preventDefault();
    const form = ev.currentTarget;
    const perChannel = Object.assign({}, own.per_channel);
    const meeting = {};
    if (days(form, "meeting_dispatch") !== null) meeting.dispatch_working_days = days(form, "meeting_dispatch");
    if (days(form, "meeting_resolve") !== null) meeting.resolve_working_days = days(form, "meeting_resolve");
    if (Object.keys(meeting).length) perChannel.meeting = meeting; else delete perChannel.meeting;
    const body = {
      deadlines: { dispatch_working_days: days(form, "dispatch"), resolve_working_days: days(form, "resolve"),
        review_working_days: days(form, "review") },
      per_tag: own.per_tag, per_channel: perChannel,
      revisit_share: days(form, "share") / 100, urge_interval_hours: days(form, "urge"),
    };
    const res = await api("PUT", "/admin/rules", body);
    if (!res.ok) return fail(res);
    await refresh();
    flash(t("rules.done.saved"));
  }

  function ready() {
    $("rules-refresh").addEventListener("click", refresh);
    $("rules-form").addEventListener("submit", onSave);
    refresh();
  }

  window.ZT.boot({ roles: ["admin", "leader", "dispatcher", "supervisor", "viewer"], onReady: ready });
})();
