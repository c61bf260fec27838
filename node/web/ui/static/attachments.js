/* 直通 — 附件 on an issue's page: the portal's (the enterprise attaches a photo, a licence,
   a contract, and sees its own files and those attached to the reply) and the workbench's
   (staff see every file with thumbnails and download links, and may attach one — to the
   reply, so the enterprise sees it too).

   GET /api/v1/issues/{key}/attachments lists; POST the same path (multipart: file, ref)
   uploads; GET /api/v1/attachments/{id} downloads (ZT.download, with the session's token)
   and …/thumbnail gives a small JPEG, fetched with the token and shown as a data: URL
   (an <img src> cannot carry the token, and the CSP allows images from 'self' and data:). At the city the files of a county's issue are fetched
   from the county on first use — the page does not know or care. It runs once the page's
   own script has signed in (the "zt:ready" event of zt.js). */
"use strict";
(function () {
  const { cfg, t, h, $, notice, api, download, errorText, session, fmtTime } = window.ZT;
  const base = () => "/issues/" + encodeURIComponent(cfg.key) + "/attachments";

  function sizeText(n) {
    if (n >= 1024 * 1024) return (n / 1024 / 1024).toFixed(1) + " MB";
    if (n >= 1024) return Math.round(n / 1024) + " KB";
    return n + " B";
  }

  /** The thumbnail as a data: URL (the page's CSP allows images from 'self' and data:
      only, and an <img src> cannot carry the bearer token). */
  async function showThumb(img, id) {
    const s = session.get();
    try {
      const res = await fetch(cfg.api + "/attachments/" + encodeURIComponent(id) + "/thumbnail",
        { headers: s ? { Authorization: "Bearer " + s.token } : {}, credentials: "omit" });
      if (!res.ok) return;
      const blob = await res.blob();
      const reader = new FileReader();
      reader.onload = () => { img.src = String(reader.result); img.hidden = false; };
      reader.readAsDataURL(blob);
    } catch (e) { /* the list still offers the download */ }
  }

  function itemEl(a) {
    const img = h("img", { class: "attachment-thumb", alt: a.name, hidden: true, width: 96 });
    if (a.is_image) showThumb(img, a.id);
    const who = a.uploader_kind === "enterprise" ? t("attachments.by.enterprise") : t("attachments.by.staff");
    return h("li", { class: "attachment-item", "data-id": a.id },
      a.is_image ? img : null,
      h("div", null,
        h("button", { type: "button", class: "btn btn-quiet btn-small attachment-name",
          onclick: async () => {
            const error = await download("/attachments/" + encodeURIComponent(a.id), a.name);
            if (error) notice($("attachments-error"), errorText(error), "error");
          } }, a.name),
        h("div", { class: "hint" }, [sizeText(a.size), who, fmtTime(a.uploaded_at),
          a.ref_kind === "resolve" ? t("attachments.reply") : null].filter(Boolean).join(" · "))));
  }

  function render(items) {
    const box = $("attachments-list");
    box.replaceChildren(items.length
      ? h("ul", { class: "attachment-list" }, items.map(itemEl))
      : h("p", { class: "muted", id: "attachments-none" }, t("attachments.none")));
    $("attachments-card").hidden = false;
  }

  async function load() {
    const res = await api("GET", base());
    if (!res.ok) return notice($("attachments-error"), errorText(res.error), "error");
    render(res.data.items);
  }

  /** The version of the latest reply (the `resolve` event), if any. */
  async function replyVersion() {
    const res = await api("GET", "/issues/" + encodeURIComponent(cfg.key));
    if (!res.ok) return null;
    const replies = (res.data.timeline || []).filter((e) => e.kind === "resolve");
    return replies.length ? Math.max(...replies.map((e) => e.version)) : null;
  }

  async function onUpload(ev) {
    ev.preventDefault();
    const f = ev.currentTarget;
    const file = f.elements.file.files[0];
    if (!file) return notice($("attachments-result"), t("attachments.choose"), "error");
    const body = new FormData();
    body.append("file", file, file.name);
    if (f.elements.reply && f.elements.reply.checked) {
      const version = await replyVersion();
      if (version === null) return notice($("attachments-result"), t("attachments.no_reply"), "error");
      body.append("ref", String(version));
    }
    const s = session.get();
    const button = f.querySelector("button[type=submit]");
    button.disabled = true;
    notice($("attachments-result"), t("attachments.uploading"), "ok");
    let res = null;
    let data = null;
    try {
      res = await fetch(cfg.api + base(), { method: "POST", body: body, credentials: "omit",
        headers: Object.assign({ Accept: "application/json" },
          s ? { Authorization: "Bearer " + s.token } : {}) });
      data = await res.json();
    } catch (e) {
      data = null;
    } finally {
      button.disabled = false;
    }
    if (!res || !res.ok) {
      const error = (data && data.error) || { message: t("err.unknown"), message_en: t("err.unknown") };
      return notice($("attachments-result"), errorText(error), "error");
    }
    // 202: the issue is handled by a tier above; the file is kept here and forwarded, and
    // listed once the owner's record of it comes back
    notice($("attachments-result"), t(res.status === 202 ? "attachments.forwarded"
      : "attachments.uploaded", { name: data.name }), "ok");
    f.reset();
    await load();
  }

  /** Staff attach where the issue is owned: on a replica (a county's issue at the city,
      an escalated one at the county) their form is hidden and the list stays. The
      enterprise attaches at its county wherever the issue is handled (forwarded up). */
  async function offerUpload(f, me) {
    const res = await api("GET", "/issues/" + encodeURIComponent(cfg.key));
    f.hidden = !(res.ok && (res.data.owner === cfg.node || me.role === "enterprise"));
  }

  window.ZT.whenReady((ev) => {
    if (!$("attachments-card") || !cfg.key || !ev.detail) return;
    const f = $("attachments-form");
    if (f) {
      f.addEventListener("submit", onUpload);
      offerUpload(f, ev.detail);
    }
    load();
  });
})();
