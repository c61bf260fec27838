/* 直通 — the workbench's import screen: the template, an upload, its progress and report.

   The upload goes to POST /api/v1/imports (multipart) and comes back at once with a job;
   the page then polls GET /api/v1/imports/{job} and shows the rows written of the total
   until the job is finished, then its report: the counts and every refused row (row,
   column, value, reason). Downloads carry the bearer token, so they are fetched and saved
   from a blob (a plain link would not be authorised). */
"use strict";
(function () {
  const { cfg, t, h, $, notice, session, api, errorText, fmtNum, table } = window.ZT;
  const POLL_MS = 400;

  function authHeaders() {
    const s = session.get();
    return s ? { Authorization: "Bearer " + s.token } : {};
  }

  async function download(path, name) {
    const error = await window.ZT.download(path, name);
    if (error) notice($("import-error"), errorText(error), "error");
  }

  function running(job) {
    return job.state !== "finished" && job.state !== "failed";
  }

  function stateText(job) {
    if (running(job) && job.cancel_requested) return t("import.state.cancelling");
    if (job.state === "writing") return t("import.state.writing", { done: fmtNum(job.done), total: fmtNum(job.total) });
    return t("import.state." + job.state);
  }

  function showProgress(job) {
    $("import-progress-box").hidden = false;
    const bar = $("import-progress");
    bar.max = Math.max(1, job.total);
    bar.value = job.state === "finished" ? bar.max : job.done;
    $("import-status").textContent = stateText(job);
    const cancel = $("import-cancel");
    cancel.hidden = !running(job);
    cancel.disabled = Boolean(job.cancel_requested);
    cancel.dataset.job = job.id;
  }

  /** 取消导入: the import stops before its next batch; what it wrote stays. */
  async function onCancel() {
    const cancel = $("import-cancel");
    cancel.disabled = true;
    const res = await api("POST", "/imports/" + encodeURIComponent(cancel.dataset.job) + "/cancel");
    if (!res.ok) {
      cancel.disabled = false;
      notice($("import-error"), errorText(res.error), "error");
      return;
    }
    showProgress(res.data);
  }

  function showReport(report) {
    const status = t("import.status." + report.status);
    const counts = h("dl", { class: "facts", id: "import-counts" },
      h("dt", null, t("import.result")), h("dd", { id: "import-outcome" }, status),
      h("dt", null, t("import.rows")), h("dd", null, fmtNum(report.rows)),
      h("dt", null, t("import.valid")), h("dd", null, fmtNum(report.valid)),
      h("dt", null, t("import.invalid")), h("dd", null, fmtNum(report.invalid)),
      h("dt", null, t("import.existing")), h("dd", null, fmtNum(report.existing)),
      h("dt", null, t("import.written")), h("dd", { id: "import-written" }, fmtNum(report.written)));
    const problems = table([
      { label: t("import.col.row"), num: true, render: (p) => String(p.row) },
      { label: t("import.col.column"), render: (p) => (cfg.lang === "en" ? p.column : p.column_zh) },
      { label: t("import.col.value"), render: (p) => p.value || "—" },
      { label: t("import.col.reason"), render: (p) => (cfg.lang === "en" ? p.reason_en : p.reason) },
    ], report.problems, { caption: t("import.problems"), empty: t("import.problems.none") });
    problems.id = "import-problems";
    $("import-result").replaceChildren(counts, problems);
  }

  async function follow(job) {
    showProgress(job);
    while (running(job)) {
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      const res = await api("GET", "/imports/" + encodeURIComponent(job.id));
      if (!res.ok) {
        notice($("import-error"), errorText(res.error), "error");
        return;
      }
      job = res.data;
      showProgress(job);
    }
    if (job.state === "failed") {
      notice($("import-error"), errorText(job.error), "error");
      return;
    }
    showReport(job.report);
  }

  async function onSubmit(ev) {
    ev.preventDefault();
    const form = ev.target;
    notice($("import-error"), "", "error");
    $("import-result").replaceChildren();
    const file = form.elements.file.files[0];
    if (!file) {
      notice($("import-error"), t("import.no_file"), "error");
      return;
    }
    const body = new FormData();
    body.append("file", file, file.name);
    body.append("dry_run", form.elements.dry_run.checked ? "true" : "false");
    body.append("skip_invalid", form.elements.skip_invalid.checked ? "true" : "false");
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      let res;
      try {
        res = await fetch(cfg.api + "/imports", { method: "POST", body: body,
          headers: Object.assign({ Accept: "application/json" }, authHeaders()), credentials: "omit" });
      } catch (e) {
        notice($("import-error"), t("err.network"), "error");
        return;
      }
      let data = null;
      try { data = await res.json(); } catch (e) { data = null; }
      if (!res.ok) {
        notice($("import-error"), errorText(data && data.error), "error");
        return;
      }
      await follow(data);
    } finally {
      button.disabled = false;
    }
  }

  function ready() {
    $("import-template").addEventListener("click", () => download("/imports/template.xlsx", "zhitong-import-template.xlsx"));
    $("import-form").addEventListener("submit", onSubmit);
    $("import-cancel").addEventListener("click", onCancel);
  }

  window.ZT.boot({ roles: ["dispatcher", "admin"], onReady: ready });
})();
