/* 直通 — the staff workbench: the pool, an issue with its allowed actions, operations. */
"use strict";
(function () {
  const { cfg, t, label, unitName, h, $, notice, api, errorText, fmtTime, timeEl, dueEl, fmtNum,
    countdown, lightEl, stateEl, renderTimeline, table } = window.ZT;
  const page = document.body.dataset.page;
  const PAGE_SIZE = 50;

  function issueUrl(key) {
    return cfg.ui + "/workbench/issues/" + encodeURIComponent(key);
  }

  // ---------------------------------------------------------------- the pool

  const FILTERS = ["state", "light", "tag", "board", "department", "unit", "origin", "owner", "step",
    "q", "overdue"];

  /** The organisation units of this node (GET /units), loaded once: dispatch forms and the
      pool's unit filter choose among them; a node without a catalogue keeps free text. */
  let units = null;
  async function loadUnits() {
    if (units === null) {
      const res = await api("GET", "/units?active=true");
      units = res.ok ? res.data : [];
    }
    return units;
  }

  /** The tag library's active tags (GET /admin/tags), loaded once: the triage form offers
      them as choices; a node whose library is not in force keeps free text only. */
  let tagLibrary = null;
  async function loadTags() {
    if (tagLibrary === null) {
      const res = await api("GET", "/admin/tags");
      tagLibrary = res.ok && res.data.in_force ? res.data.categories.filter((c) => c.active)
        .flatMap((c) => c.tags.filter((x) => x.active && !x.merged_into)
          .map((x) => ({ id: x.id, name: x.name_zh, category: c.name_zh }))) : [];
    }
    return tagLibrary;
  }

  /** Checkboxes of the library's tags that fill the tags input (ids stay on the server). */
  function tagPicks(input) {
    if (!tagLibrary || !tagLibrary.length) return null;
    const chosen = () => input.value.split(/[,，、;；\s]+/).filter(Boolean);
    return h("div", { class: "tag-picks", role: "group", "aria-label": t("action.field.tags.library") },
      tagLibrary.map((x) => {
        const box = h("input", { type: "checkbox", value: x.name, "data-tag-id": x.id,
          checked: chosen().includes(x.name) || null });
        box.addEventListener("change", () => {
          const names = chosen().filter((n) => n !== x.name);
          if (box.checked) names.push(x.name);
          input.value = names.join("，");
        });
        return h("label", { class: "tag-pick", title: x.category }, box, " " + x.name);
      }));
  }

  function unitOptions(kinds) {
    return (units || []).filter((u) => !kinds || kinds.includes(u.kind))
      .map((u) => h("option", { value: u.id }, u.name + "（" + label("workbench.unit_kind.", u.kind) + "）"));
  }

  function filtersFromUrl() {
    const params = new URLSearchParams(location.search);
    const out = {};
    for (const k of FILTERS) if (params.get(k)) out[k] = params.get(k);
    out.offset = Math.max(0, Number(params.get("offset") || 0) || 0);
    return out;
  }

  function fillForm(form, filters) {
    for (const k of FILTERS) {
      const el = form.elements[k];
      if (el.type === "checkbox") el.checked = filters[k] === "true";
      else el.value = filters[k] || "";
    }
  }

  function readForm(form) {
    const out = { offset: 0 };
    for (const k of FILTERS) {
      const el = form.elements[k];
      if (el.type === "checkbox") {
        if (el.checked) out[k] = "true";
      } else if (el.value.trim()) out[k] = el.value.trim();
    }
    return out;
  }

  function query(filters) {
    const params = new URLSearchParams();
    for (const k of FILTERS) if (filters[k]) params.set(k, filters[k]);
    if (filters.offset) params.set("offset", String(filters.offset));
    return params.toString();
  }

  let filters = {};
  const liveChanged = new Set(); // issues the live stream named since the pool was drawn

  /** A search hit's snippet: the field, then its text as text nodes with the matched
   *  spans in <mark> (never parsed as HTML). */
  function snippetEl(snippet) {
    if (!snippet) return null;
    const parts = [];
    let at = 0;
    for (const [s, e] of snippet.marks) {
      parts.push(snippet.text.slice(at, s), h("mark", null, snippet.text.slice(s, e)));
      at = e;
    }
    parts.push(snippet.text.slice(at));
    return h("div", { class: "hint snippet", "data-field": snippet.field },
      t("workbench.snippet." + snippet.field) + "：", parts);
  }

  async function loadPool() {
    const box = $("pool");
    box.setAttribute("aria-busy", "true");
    const qs = query(filters);
    const res = await api("GET", "/issues?limit=" + PAGE_SIZE + (qs ? "&" + qs : ""));
    box.setAttribute("aria-busy", "false");
    if (!res.ok) {
      notice($("pool-error"), errorText(res.error), "error");
      box.replaceChildren();
      return;
    }
    notice($("pool-error"), "", "error");
    const data = res.data;
    for (const i of data.items) if (liveChanged.has(i.id)) i._class = "row-live";
    liveChanged.clear();
    // a search with other filters counts to 1,000 ("1,000+": total_exact false)
    const total = data.total_exact === false ? t("workbench.pool.at_least", { n: fmtNum(data.total) }) : fmtNum(data.total);
    $("pool-count").textContent = t("workbench.pool.count", { n: total });
    box.replaceChildren(table([
      { label: t("workbench.col.number"), render: (i) => h("a", { href: issueUrl(i.number), class: "mono" }, i.number) },
      { label: t("workbench.col.title"), render: (i) => [h("span", { class: "cell-title" }, i.title),
        i._class === "row-live" && window.ZT.live ? [" ", window.ZT.live.mark()] : null, snippetEl(i.snippet)] },
      { label: t("workbench.col.state"), render: (i) => stateEl(i.state) },
      { label: t("workbench.col.light"), render: (i) => (i.light ? lightEl(i.light) : "—") },
      { label: t("workbench.col.due"), render: (i) => (i.deadline && i.light ? [dueEl(i.deadline.due), h("br"), h("span", { class: "hint" }, countdown(i.deadline.due))] : "—") },
      { label: t("workbench.col.department"), render: (i) => i.queue_name || i.department_name || i.department || "—" },
      { label: t("workbench.col.tags"), render: (i) => (i.tags.length ? i.tags.join("、") : "—") },
      { label: t("workbench.col.urges"), num: true, render: (i) => fmtNum(i.urge_count) },
      { label: t("workbench.col.received"), render: (i) => timeEl(i.received_at) },
    ], data.items, { caption: t("workbench.pool.results"), captionHidden: true, empty: t("workbench.pool.empty") }));
    const from = data.total ? data.offset + 1 : 0;
    const to = data.offset + data.items.length;
    $("page-info").textContent = t("workbench.pager.info", { from: from, to: to, total: total });
    $("prev").disabled = data.offset <= 0;
    $("next").disabled = !data.next_cursor;
  }

  /** The pool of the filters in force, every row, as a file the node streams
      (GET /issues/export). */
  async function exportPool(format) {
    const params = new URLSearchParams(query({ ...filters, offset: 0 }));
    params.set("format", format);
    params.set("lang", cfg.lang);
    const error = await ZT.download("/issues/export?" + params.toString(), "zhitong-pool." + format);
    if (error) notice($("pool-error"), errorText(error), "error");
  }

  /** A node with units below it (a city, the province) filters its pool by the unit an
      issue came from and the one holding it now: the choices are this node and the units
      below it (GET /divisions); a county, or an account without metrics, has no choice. */
  async function subtreeFilters(form) {
    const res = await api("GET", "/divisions");
    const codes = res.ok ? Object.keys(res.data.names) : [];
    if (codes.length < 2) return;
    for (const name of ["origin", "owner"]) {
      form.elements[name].append(...codes.map((code) =>
        h("option", { value: code }, res.data.names[code] + "（" + code + "）")));
      $("q-" + name + "-field").hidden = false;
    }
  }

  async function pool() {
    const form = $("filters");
    await Promise.all([loadUnits(), subtreeFilters(form)]);
    form.elements.unit.append(...unitOptions(null));
    filters = filtersFromUrl();
    fillForm(form, filters);
    const go = () => {
      history.replaceState(null, "", location.pathname + (query(filters) ? "?" + query(filters) : ""));
      loadPool();
    };
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      filters = readForm(form);
      go();
    });
    form.addEventListener("reset", () => {
      filters = { offset: 0 };
      setTimeout(go, 0); // after the browser has cleared the fields
    });
    $("pool-export-xlsx").addEventListener("click", () => exportPool("xlsx"));
    $("pool-export-csv").addEventListener("click", () => exportPool("csv"));
    $("prev").addEventListener("click", () => {
      filters.offset = Math.max(0, (filters.offset || 0) - PAGE_SIZE);
      go();
    });
    $("next").addEventListener("click", () => {
      filters.offset = (filters.offset || 0) + PAGE_SIZE;
      go();
    });
    loadPool();
    const live = window.ZT.live;
    if (live) {  // a change anywhere: redraw the current page, the changed rows marked
      const redraw = live.coalesce(loadPool, 1000); // at most one redraw a second
      live.on("issue", (d) => {
        liveChanged.add(d.issue_id);
        redraw();
      });
      live.on("reload", redraw);
    }
  }

  // ---------------------------------------------------------------- one issue and its actions

  const NOTE = { name: "note", kind: "textarea", maxlength: 1000 };
  /** allowed_actions value → endpoint, body and form fields. */
  const ACTIONS = {
    triage: { path: "triage", fields: [{ name: "tags", kind: "tags", required: true }, { name: "board", kind: "unit", kinds: ["board", "zone"], maxlength: 60 }, NOTE] },
    assign: { path: "assign", fields: [{ name: "department", kind: "unit", kinds: ["department", "catch_all"], required: true, maxlength: 60 }, { name: "board", kind: "unit", kinds: ["board", "zone"], maxlength: 60 }, NOTE] },
    start: { path: "start", fields: [NOTE] },
    resolve: { path: "resolve", fields: [{ name: "reply", kind: "textarea", required: true, maxlength: 5000 }] },
    reject: { path: "reject", fields: [{ name: "reason", kind: "textarea", required: true, maxlength: 1000 }] },
    confirm_rejection: { path: "review", fixed: { decision: "confirm" }, fields: [{ name: "comment", kind: "textarea", maxlength: 1000 }] },
    overturn_rejection: { path: "review", fixed: { decision: "overturn" }, fields: [{ name: "comment", kind: "textarea", maxlength: 1000 }] },
    ladder_up: { path: "ladder", fields: [NOTE] },
    urge: { path: "urge", fields: [NOTE] },
    close: { path: "close", fields: [NOTE] },
    revisit: { path: "revisit", fields: [{ name: "result", kind: "select", required: true, options: ["satisfied", "basically_ok", "unsatisfied", "unreachable"], prefix: "revisit." }, NOTE] },
    escalate: { path: "escalate", unversioned: true, fields: [{ name: "reason", kind: "textarea", required: true, maxlength: 1000 }] },
    return: { path: "return", unversioned: true, fields: [{ name: "instructions", kind: "textarea", required: true, maxlength: 1000 }] },
    // the federation's: 督办 goes down to the tier that owns the issue, 交办下级 hands one owned here to a child
    supervise: { path: "supervise", unversioned: true, fields: [NOTE] },
    dispatch: { path: "dispatch", unversioned: true, fields: [{ name: "to", kind: "child", required: true }, { name: "instructions", kind: "textarea", required: true, maxlength: 4000 }] },
  };

  /** The units one tier below this node (GET /divisions, the reference data), by their
      division codes: a province's cities (33xx00), a city's counties (3305xx). Loaded
      once, when a dispatch form is shown. */
  let children = null;
  async function loadChildren() {
    if (children !== null) return;
    const res = await api("GET", "/divisions");
    const node = cfg.node || "";
    const below = (c) => c !== node && (node.endsWith("0000") ? c.slice(0, 2) === node.slice(0, 2) && c.endsWith("00")
      : node.endsWith("00") && c.slice(0, 4) === node.slice(0, 4));
    children = res.ok ? Object.entries(res.data.names).filter(([c]) => below(c)) : [];
  }

  let current = null;

  function prefill(name, issue) {
    if (name === "tags") return issue.tags.join("，");
    if (name === "board") return issue.board || "";
    if (name === "department") return issue.department || "";
    return "";
  }

  function fieldEl(action, f, issue) {
    const id = "a-" + action + "-" + f.name;
    const hintKey = "action.field." + f.name + ".hint";
    const hint = window.ZT.has(hintKey) ? h("p", { class: "hint", id: id + "-hint" }, t(hintKey)) : null;
    const common = { id: id, name: f.name, required: f.required || null, maxlength: f.maxlength || null,
      "aria-describedby": hint ? id + "-hint" : null };
    let input;
    if (f.kind === "textarea") input = h("textarea", Object.assign({ rows: 3 }, common));
    else if (f.kind === "unit" && units && units.length) {  // a unit of the catalogue, by id
      input = h("select", common, h("option", { value: "" }, t("action.choose")), unitOptions(f.kinds));
      input.value = prefill(f.name, issue);
    } else if (f.kind === "child" && children && children.length) {
      input = h("select", common, h("option", { value: "" }, t("action.choose")),
        children.map(([c, n]) => h("option", { value: c }, n + " (" + c + ")")));
    } else if (f.kind === "select") {
      input = h("select", common, h("option", { value: "" }, t("action.choose")),
        f.options.map((o) => h("option", { value: o }, label(f.prefix, o))));
    } else input = h("input", common);
    if (f.kind === "child" && input.tagName === "INPUT") {
      input.setAttribute("pattern", "[0-9]{6}");
      input.setAttribute("inputmode", "numeric");
    }
    if (f.kind !== "select" && f.kind !== "unit" && f.kind !== "child") input.value = prefill(f.name, issue);
    else if (f.kind === "unit" && input.tagName === "INPUT") input.value = prefill(f.name, issue);
    return h("div", { class: "field" },
      h("label", { for: id }, t("action.field." + f.name), f.required ? h("span", { class: "req", "aria-hidden": "true" }, " *") : null),
      input, f.kind === "tags" ? tagPicks(input) : null, hint);
  }

  function actionForm(action, issue) {
    const spec = ACTIONS[action];
    const form = h("form", { class: "form", novalidate: true },
      h("p", { class: "hint" }, t("action." + action + ".desc")),
      spec.fields.map((f) => fieldEl(action, f, issue)),
      h("button", { type: "submit", class: "btn " + (action === "reject" || action === "escalate" ? "btn-danger" : "btn-primary") },
        t("action." + action + ".submit")));
    form.addEventListener("submit", (ev) => runAction(ev, action));
    return h("details", { class: "action", "data-action": action },
      h("summary", null, t("action." + action)), form);
  }

  async function runAction(ev, action) {
    ev.preventDefault();
    const form = ev.currentTarget;
    const spec = ACTIONS[action];
    const errorBox = $("action-error");
    const body = Object.assign({}, spec.fixed || {});
    for (const f of spec.fields) {
      const el = form.elements[f.name];
      const value = el.value.trim();
      if (f.required && !value) {
        notice(errorBox, t("action.required", { field: t("action.field." + f.name) }), "error");
        el.setAttribute("aria-invalid", "true");
        el.focus();
        return;
      }
      el.removeAttribute("aria-invalid");
      if (f.kind === "tags") body.tags = value.split(/[,，、;；\s]+/).filter(Boolean);
      else body[f.name] = value || null;
    }
    if (!spec.unversioned) body.expected_version = current.version;
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    const res = await api("POST", "/issues/" + encodeURIComponent(current.id) + "/" + spec.path, body);
    button.disabled = false;
    if (!res.ok) {
      notice(errorBox, errorText(res.error), "error");
      if (res.error.code === "conflict") await loadIssue();
      return;
    }
    notice(errorBox, "", "error");
    // this page's own step is no news: the live stream may tell of it before loadIssue ends
    if (res.data && res.data.version) shownVersion = Math.max(shownVersion, res.data.version);
    notice($("flash"), res.status === 202 ? t("action.accepted", { action: t("action." + action) })
      : t("action.done", { action: t("action." + action) }), "ok");
    await loadIssue();
    $("flash").focus();
  }

  /** The phone as the API shows staff (masked), and a button that opens it: an explicit
      read, recorded in the audit trail (GET /issues/{id}/contact). */
  function contactEl(issue) {
    const shown = h("span", { class: "mono", id: "contact-phone" }, issue.enterprise.contact_phone || "—");
    if (!issue.enterprise.contact_phone) return shown;
    const button = h("button", { type: "button", class: "btn btn-quiet btn-small", id: "contact-show",
      title: t("workbench.contact.hint") }, t("workbench.contact.show"));
    button.addEventListener("click", async () => {
      const res = await api("GET", "/issues/" + encodeURIComponent(issue.id) + "/contact");
      if (!res.ok) {
        shown.textContent = errorText(res.error);
        return;
      }
      shown.textContent = res.data.contact_phone;
      button.remove();
    });
    return h("span", null, shown, " ", button);
  }

  let shownVersion = 0; // the newest step the timeline shows

  function newestStep(issue) {
    return Math.max(0, ...issue.timeline.map((e) => e.version));
  }

  function renderIssue(issue) {
    current = issue;
    shownVersion = newestStep(issue);
    $("issue").setAttribute("aria-busy", "false");
    $("issue").replaceChildren(h("div", { class: "issue-head" },
      h("h1", { class: "page-title" }, issue.title),
      h("p", { class: "issue-number" }, h("span", { class: "mono", id: "issue-number" }, issue.number),
        " ", stateEl(issue.state, issue.timeline), " ", issue.light ? lightEl(issue.light) : null)));
    $("issue-body").hidden = false;
    const status = [];
    if (issue.deadline && issue.light) {
      status.push(h("div", { class: "deadline deadline-" + issue.light },
        h("p", { class: "deadline-kind" }, label("deadline.", issue.deadline.kind), " · ",
          t("workbench.issue.due"), " ", dueEl(issue.deadline.due)),
        h("p", { class: "countdown" }, countdown(issue.deadline.due))));
    }
    if (issue.owner !== cfg.node) {
      status.push(h("p", { class: "notice notice-warn" }, t("workbench.issue.replica", { owner: unitName(issue.owner) + " (" + issue.owner + ")" })));
    }
    $("status").replaceChildren(...status);
    // 共性问题: the subject's name and kind, no credit code or phone; the channel's own fields
    const common = issue.subject_kind && issue.subject_kind !== "enterprise";
    const channelFields = Object.values(issue.channel_fields || {});
    const facts = [
      ["workbench.field.enterprise", common ? issue.enterprise.name + " · " + t("workbench.field.common",
        { kind: label("workbench.subject.", issue.subject_kind) }) : issue.enterprise.name],
      ...(common ? [] : [["workbench.field.credit_code", issue.enterprise.credit_code],
        ["workbench.field.phone", contactEl(issue)]]),
      ["workbench.field.channel", label("channel.", issue.channel) +
        (channelFields.length ? "（" + channelFields.join(" · ") + "）" : "")],
      ["workbench.field.received", fmtTime(issue.received_at)],
      ["workbench.field.tags", issue.tags.length ? issue.tags.join("、") : "—"],
      ["workbench.field.board", issue.board_name || issue.board || "—"],
      ["workbench.field.department", issue.department_name || issue.department || "—"],
      ["workbench.field.ladder", t("workbench.field.ladder_value", { n: issue.ladder_step + 1 }) +
        (issue.queue_name ? " · " + t("workbench.field.queue", { unit: issue.queue_name }) : "")],
      ["workbench.field.urges", fmtNum(issue.urge_count)],
    ];
    if (issue.reply) facts.push(["workbench.field.reply", issue.reply]);
    if (issue.rejection_reason) facts.push(["workbench.field.rejection", issue.rejection_reason]);
    if (issue.rating) facts.push(["workbench.field.rating", label("rating.", issue.rating) + (issue.rating_comment ? "（" + issue.rating_comment + "）" : "")]);
    if (issue.reopen_count) facts.push(["workbench.field.reopened", fmtNum(issue.reopen_count)]);
    if (issue.revisit_result) facts.push(["workbench.field.revisit", label("revisit.", issue.revisit_result)]);
    $("facts").replaceChildren(...facts.flatMap(([k, v]) => [h("dt", null, t(k)), h("dd", { class: "pre" }, v)]));
    $("content-text").textContent = issue.content;
    renderTimeline($("timeline"), issue.timeline, true);
    const known = issue.allowed_actions.filter((a) => ACTIONS[a]);
    $("actions").replaceChildren(...(known.length ? known.map((a) => actionForm(a, issue))
      : [h("p", { class: "empty" }, t("workbench.actions.none"))]));
    if (issue.state === "closed" && issue.owner === cfg.node) {  // 问题复盘 → the case library
      $("actions").append(h("p", { class: "case-review-link" }, h("a", { id: "case-review-link",
        href: cfg.ui + "/workbench/cases?subject=" + encodeURIComponent(issue.number) }, t("workbench.case_review"))));
    }
  }

  async function loadIssue() {
    const res = await api("GET", "/issues/" + encodeURIComponent(current ? current.id : cfg.key));
    if (!res.ok) {
      $("issue").replaceChildren(h("p", { class: "notice notice-error", role: "alert" }, errorText(res.error)));
      $("issue-body").hidden = true;
      return;
    }
    if (res.data.allowed_actions.includes("dispatch")) await loadChildren();
    renderIssue(res.data);
  }

  /** The issue changed (the live stream): the new steps appear in the timeline, marked.
      An action form being filled in is kept as it is, with its version: a submit then
      meets the change as a conflict instead of overwriting it unseen. */
  async function liveIssue() {
    if (!current) return;
    const res = await api("GET", "/issues/" + encodeURIComponent(current.id));
    if (!res.ok) return;
    const fresh = res.data.timeline.filter((e) => e.version > shownVersion).length;
    if ($("actions").querySelector("details[open]")) {
      renderTimeline($("timeline"), res.data.timeline, true);
      shownVersion = newestStep(res.data);
      if (fresh) notice($("flash"), t("common.live.changed"), "info");
    } else renderIssue(res.data);
    window.ZT.live.markNew($("timeline"), fresh);
  }

  async function issuePage() {
    $("flash").setAttribute("tabindex", "-1");
    await Promise.all([loadUnits(), window.ZT.loadUnitNames()]);  // names in the timeline
    await loadTags();
    await loadIssue();
    const live = window.ZT.live;
    if (live) {
      const refresh = live.coalesce(liveIssue, 200);
      live.on("issue", (d) => {
        if (current && d.issue_id === current.id && d.issue_version !== current.version) refresh();
      });
      live.on("reload", refresh);
    }
  }

  // ---------------------------------------------------------------- operations

  function fmtAge(seconds) {
    const s = Math.round(seconds);
    if (s < 60) return t("ops.age.s", { n: s });
    if (s < 3600) return t("ops.age.m", { n: Math.floor(s / 60) });
    if (s < 86400) return t("ops.age.h", { n: Math.floor(s / 3600), m: Math.floor((s % 3600) / 60) });
    return t("ops.age.d", { n: Math.floor(s / 86400), h: Math.floor((s % 86400) / 3600) });
  }

  async function loadOutbox() {
    const res = await api("GET", "/federation/outbox");
    if (!res.ok) {
      notice($("outbox-error"), errorText(res.error), "error");
      return;
    }
    notice($("outbox-error"), "", "error");
    const rows = Object.entries(res.data.destinations).map(([dest, d]) => Object.assign({ dest: dest }, d));
    $("outbox").replaceChildren(table([
      { label: t("ops.col.destination"), render: (r) => unitName(r.dest) + " (" + r.dest + ")" },
      { label: t("ops.col.depth"), num: true, render: (r) => fmtNum(r.depth) },
      { label: t("ops.col.oldest"), render: (r) => (r.depth ? fmtAge(r.oldest_age_s) : "—") },
      { label: t("ops.col.health"), render: (r) => (r.stuck ? h("span", { class: "badge badge-stuck" }, t("ops.stuck"))
        : h("span", { class: "badge badge-ok" }, r.failures ? t("ops.retrying") : t("ops.ok"))) },
      { label: t("ops.col.failures"), num: true, render: (r) => fmtNum(r.failures) },
      { label: t("ops.col.next_attempt"), render: (r) => (r.next_attempt_at ? fmtTime(r.next_attempt_at, true) : "—") },
      { label: t("ops.col.last_success"), render: (r) => (r.last_success_at ? fmtTime(r.last_success_at, true) : "—") },
      { label: t("ops.col.last_error"), render: (r) => r.last_error || "—" },
    ], rows, { caption: t("ops.outbox.title"), captionHidden: true, rowHeaders: true, empty: t("ops.outbox.none") }));
    $("refused").replaceChildren(table([
      { label: t("ops.col.issue"), render: (r) => h("a", { href: issueUrl(r.issue_id), class: "mono" }, r.issue_id) },
      { label: t("ops.col.kind"), render: (r) => label("event.", r.kind) },
      { label: t("ops.col.destination"), render: (r) => unitName(r.destination) + " (" + r.destination + ")" },
      { label: t("ops.col.error"), render: (r) => r.error || "—" },
    ], res.data.refused, { caption: t("ops.refused.title"), captionHidden: true, empty: t("ops.refused.none") }));
  }

  function thisMonth() {
    const p = {};
    const fmt = new Intl.DateTimeFormat("en-GB", { timeZone: "Asia/Shanghai", year: "numeric", month: "2-digit" });
    for (const part of fmt.formatToParts(new Date(window.ZT.serverNow()))) p[part.type] = part.value;
    return p.year + "-" + p.month;
  }

  async function onSample(ev) {
    ev.preventDefault();
    const form = ev.currentTarget;
    const errorBox = $("sample-error");
    const period = form.elements.period.value.trim();
    if (!/^\d{4}-\d{2}$/.test(period)) {
      notice(errorBox, t("ops.sample.bad_period"), "error");
      form.elements.period.focus();
      return;
    }
    const body = { period: period };
    const share = form.elements.share.value.trim();
    if (share) body.share = Number(share) / 100;
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    const res = await api("POST", "/revisit-samples", body);
    button.disabled = false;
    if (!res.ok) {
      notice(errorBox, errorText(res.error), "error");
      return;
    }
    notice(errorBox, "", "error");
    const s = res.data;
    // The sample names issues by global id; fetch number and title for the staff.
    const details = await Promise.all(s.selected.slice(0, 50).map((id) => api("GET", "/issues/" + encodeURIComponent(id))));
    $("sample-result").replaceChildren(
      h("dl", { class: "facts" },
        h("dt", null, t("ops.sample.id")), h("dd", null, String(s.id)),
        h("dt", null, t("ops.sample.period")), h("dd", null, s.period),
        h("dt", null, t("ops.sample.share_exact")), h("dd", null, s.share_exact + "（" + (s.share * 100).toFixed(1) + "%）"),
        h("dt", null, t("ops.sample.frame")), h("dd", null, t("ops.sample.frame_value", { n: s.frame_size, k: s.selected.length })),
        h("dt", null, t("ops.sample.seed")), h("dd", { class: "mono small" }, s.seed),
        h("dt", null, t("ops.sample.method")), h("dd", null, s.method),
        h("dt", null, t("ops.sample.drawn")), h("dd", null, fmtTime(s.drawn_at, true) + " · " + s.drawn_by)),
      table([
        { label: t("workbench.col.number"), render: (r) => h("a", { href: issueUrl(r.id), class: "mono" }, r.number || r.id) },
        { label: t("workbench.col.title"), render: (r) => r.title || "—" },
        { label: t("workbench.col.state"), render: (r) => (r.state ? stateEl(r.state) : "—") },
      ], s.selected.slice(0, 50).map((id, i) => (details[i].ok ? details[i].data : { id: id })),
      { caption: t("ops.sample.selected"), empty: t("ops.sample.none") }));
  }

  function ops(me) {
    $("outbox-refresh").addEventListener("click", loadOutbox);
    loadOutbox();
    const form = $("sample-form");
    form.elements.period.value = thisMonth();
    form.addEventListener("submit", onSample);
    if (!["leader", "admin"].includes(me.role)) {
      $("sample-result").replaceChildren(h("p", { class: "notice notice-info" }, t("ops.sample.leaders_only")));
    }
  }

  window.ZT.boot({
    roles: ["intake", "dispatcher", "handler", "leader", "supervisor", "reviewer", "admin"],
    onReady: page === "workbench_issue" ? issuePage : page === "workbench_ops" ? ops : pool,
  });
})();
