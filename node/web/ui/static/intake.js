/* 直通 — the workbench's intake screen (综合受理): one issue of any channel, or a meeting's list.

   The channels and their own fields come from GET /api/v1/intake/channels (the node's
   configuration), so a form shows exactly the fields its channel records (meeting and
   date, leader, team, ticket number). One issue goes to POST /api/v1/intake with an
   Idempotency-Key (a double click creates one issue); the credit code can fill in the name
   and phone from this node's latest issue (GET /api/v1/enterprises/{code}). A common issue
   (共性问题) hides the code and phone. The table form sends every row to
   POST /api/v1/intake/batch: all are created or none, and a refusal marks each bad row
   with its reason. */
"use strict";
(function () {
  const { cfg, t, h, $, notice, api, errorText, newKey } = window.ZT;
  let channels = [];

  function nameOf(x) { return cfg.lang === "en" ? x.en : x.zh; }

  function channelOptions(select) {
    select.replaceChildren(...channels.map((c) => h("option", { value: c.id }, nameOf(c))));
  }

  /** The channel's own fields, as inputs named by key, in `box` (after its legend). */
  function renderFields(box, channelId, prefix) {
    const spec = channels.find((c) => c.id === channelId);
    const legend = box.querySelector("legend");
    box.replaceChildren(legend);
    if (!spec) return;
    box.hidden = spec.fields.length === 0;
    for (const f of spec.fields) {
      const id = prefix + "-" + f.key;
      box.append(h("div", { class: "field" },
        h("label", { for: id }, nameOf(f), f.required ? " (" + t("intake.required") + ")" : ""),
        h("input", { id: id, "data-key": f.key, type: f.kind === "date" ? "date" : "text",
          maxlength: f.max_len, required: f.required })));
    }
  }

  function fieldValues(box) {
    const out = {};
    for (const input of box.querySelectorAll("input[data-key]")) {
      if (input.value.trim()) out[input.dataset.key] = input.value.trim();
    }
    return out;
  }

  function tagsOf(text) {
    return text.split(/[,，、]/).map((s) => s.trim()).filter(Boolean);
  }

  // ---------------------------------------------------------------- one issue

  function onCommon() {
    const common = $("intake-common").checked;
    $("intake-kind-box").hidden = !common;
    $("intake-enterprise-box").hidden = common;
    const label = $("intake-name-label");
    label.textContent = common ? label.dataset.common : label.dataset.enterprise;
  }

  async function onLookup() {
    const code = $("intake-credit").value.trim();
    const out = $("intake-lookup-result");
    if (!code) return;
    const res = await api("GET", "/enterprises/" + encodeURIComponent(code));
    if (res.ok) {
      $("intake-name").value = res.data.name;
      $("intake-phone").value = res.data.contact_phone;
      out.textContent = t("intake.lookup.found", { number: res.data.issue_number });
    } else {
      out.textContent = res.status === 404 ? t("intake.lookup.none") : errorText(res.error);
    }
  }

  let pendingKey = null; // the same key until the form changes: a retry is the same issue

  async function onSubmit(ev) {
    ev.preventDefault();
    const form = $("intake-form");
    const common = $("intake-common").checked;
    const body = {
      channel: $("intake-channel").value,
      subject_kind: common ? $("intake-kind").value : "enterprise",
      name: $("intake-name").value,
      credit_code: common ? "" : $("intake-credit").value,
      contact_phone: common ? "" : $("intake-phone").value,
      title: $("intake-title").value,
      content: $("intake-content").value,
      tags: tagsOf($("intake-tags").value),
      fields: fieldValues($("intake-fields")),
    };
    if (!pendingKey) pendingKey = newKey();
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    const res = await api("POST", "/intake", body, { "Idempotency-Key": pendingKey });
    button.disabled = false;
    if (!res.ok) {
      notice($("intake-error"), errorText(res.error), "error");
      return;
    }
    pendingKey = null;
    notice($("intake-error"), "", "error");
    const issue = res.data;
    $("intake-result").replaceChildren(h("a", { href: cfg.ui + "/workbench/issues/" + encodeURIComponent(issue.number), id: "intake-done" },
      t("intake.done", { number: issue.number })));
    for (const id of ["intake-title", "intake-content", "intake-tags"]) $(id).value = "";
  }

  // ---------------------------------------------------------------- a meeting's table

  function batchRow() {
    const cell = (name, attrs) => h("td", null, h(attrs && attrs.tag === "textarea" ? "textarea" : "input",
      Object.assign({ name: name, "aria-label": t(labelOf(name)) }, attrs && attrs.tag ? { rows: 2, maxlength: 5000 } : { type: "text", maxlength: 100 })));
    const common = h("input", { type: "checkbox", name: "common", "aria-label": t("intake.common") });
    const kind = h("select", { name: "subject_kind", "aria-label": t("intake.subject_kind"), hidden: true },
      ["industry", "park", "region"].map((k) => h("option", { value: k }, t("intake.subject." + k))));
    const tr = h("tr", { class: "batch-row" },
      h("th", { scope: "row", class: "row-number" }),
      h("td", { class: "row-error", role: "status" }),
      h("td", null, common, " ", kind),
      cell("name"), cell("credit_code"), cell("contact_phone"), cell("title"),
      cell("content", { tag: "textarea" }),
      h("td", null, h("button", { type: "button", class: "btn btn-small", onclick: () => { tr.remove(); renumber(); } },
        t("intake.batch.remove"))));
    common.addEventListener("change", () => {
      kind.hidden = !common.checked;
      for (const n of ["credit_code", "contact_phone"]) {
        const input = tr.querySelector("[name=" + n + "]");
        input.disabled = common.checked;
        if (common.checked) input.value = "";
      }
    });
    return tr;
  }

  function labelOf(name) {
    return { name: "intake.name", credit_code: "intake.credit_code", contact_phone: "intake.phone",
      title: "intake.title", content: "intake.content" }[name];
  }

  function renumber() {
    $("batch-rows").querySelectorAll("tr").forEach((tr, i) => {
      tr.querySelector(".row-number").textContent = String(i + 1);
    });
  }

  function addRow() {
    $("batch-rows").append(batchRow());
    renumber();
  }

  async function onBatch(ev) {
    ev.preventDefault();
    const form = $("batch-form");
    const channel = $("batch-channel").value;
    const fields = fieldValues($("batch-fields"));
    const trs = Array.from($("batch-rows").querySelectorAll("tr"));
    const rows = trs.map((tr) => {
      const v = (n) => tr.querySelector("[name=" + n + "]").value;
      const common = tr.querySelector("[name=common]").checked;
      return { channel: channel, subject_kind: common ? v("subject_kind") : "enterprise", name: v("name"),
        credit_code: common ? "" : v("credit_code"), contact_phone: common ? "" : v("contact_phone"),
        title: v("title"), content: v("content"), fields: fields };
    });
    for (const tr of trs) { tr.querySelector(".row-error").textContent = ""; tr.classList.remove("row-invalid"); }
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    const res = await api("POST", "/intake/batch", { rows: rows });
    button.disabled = false;
    if (!res.ok) {
      notice($("batch-error"), errorText(res.error), "error");
      const bad = (res.error.details && res.error.details.rows) || [];
      for (const r of bad) {
        const tr = trs[r.row - 1];
        if (!tr) continue;
        tr.classList.add("row-invalid");
        tr.querySelector(".row-error").textContent = cfg.lang === "en" ? r.message_en : r.message;
      }
      return;
    }
    notice($("batch-error"), "", "error");
    const numbers = res.data.items.map((i) => i.number);
    $("batch-result").textContent = t("intake.batch.done", { count: numbers.length, numbers: numbers.join("、") });
    $("batch-rows").replaceChildren();
    addRow();
  }

  // ---------------------------------------------------------------- start

  async function ready() {
    const res = await api("GET", "/intake/channels");
    if (!res.ok) {
      notice($("intake-error"), errorText(res.error), "error");
      return;
    }
    channels = res.data;
    channelOptions($("intake-channel"));
    channelOptions($("batch-channel"));
    const meeting = channels.find((c) => c.id === "meeting");
    if (meeting) $("batch-channel").value = "meeting";
    renderFields($("intake-fields"), $("intake-channel").value, "intake-f");
    renderFields($("batch-fields"), $("batch-channel").value, "batch-f");
    $("intake-channel").addEventListener("change", () => renderFields($("intake-fields"), $("intake-channel").value, "intake-f"));
    $("batch-channel").addEventListener("change", () => renderFields($("batch-fields"), $("batch-channel").value, "batch-f"));
    $("intake-common").addEventListener("change", onCommon);
    $("intake-lookup").addEventListener("click", onLookup);
    $("intake-form").addEventListener("input", () => { pendingKey = null; });
    $("intake-form").addEventListener("submit", onSubmit);
    $("batch-add").addEventListener("click", addRow);
    $("batch-form").addEventListener("submit", onBatch);
    addRow();
  }

  window.ZT.boot({ roles: ["dispatcher", "leader", "admin"], onReady: ready });
})();
