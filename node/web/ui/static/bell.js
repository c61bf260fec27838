/* 直通 — the workbench's bell: the signed-in account's unread in-app notifications.

   Reads GET /inbox/unread when the navigation appears after a login, then follows the
   live stream's `inbox` count (node/web/ui/static/live.js), polling every 15 s only while
   the stream is not connected; the button opens the latest messages, each a
   link to its issue; "mark all read" posts /inbox/read. A node without notifications
   answers enabled=false and the bell stays hidden. Text only (textContent), never HTML. */
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  const ZT = window.ZT;
  const bell = document.getElementById("inbox-bell");
  const nav = document.getElementById("subnav");
  if (!ZT || !bell || !nav) return;
  const count = document.getElementById("inbox-unread");
  const toggle = document.getElementById("inbox-toggle");
  const panel = document.getElementById("inbox-panel");
  const list = document.getElementById("inbox-list");
  const readAll = document.getElementById("inbox-read-all");
  let enabled = true;

  function show(unread) {
    count.textContent = String(unread);
    count.dataset.unread = String(unread);
  }

  async function refresh() {
    if (!enabled || nav.hidden) return;
    if (ZT.live) ZT.live.start(); // signed in: open the stream (a no-op once open)
    const res = await ZT.api("GET", "/inbox/unread");
    if (!res.ok) return;
    if (!res.data.enabled) {
      enabled = false;
      bell.hidden = true;
      return;
    }
    bell.hidden = false;
    show(res.data.unread);
  }

  async function fill() {
    const res = await ZT.api("GET", "/inbox?limit=20");
    if (!res.ok) return;
    show(res.data.unread);
    const items = res.data.items.map(function (item) {
      const li = document.createElement("li");
      if (!item.read) li.className = "unread";
      const a = document.createElement("a");
      a.href = item.number ? ZT.cfg.ui + "/workbench/issues/" + encodeURIComponent(item.number)
        : ZT.cfg.ui + "/workbench/reports";  // a report made (report_ready): no issue
      a.textContent = item.subject;
      const when = document.createElement("small");
      when.textContent = " " + ZT.fmtTime(item.created_at);
      li.append(a, when);
      return li;
    });
    if (!items.length) {
      const li = document.createElement("li");
      li.textContent = ZT.t("workbench.inbox.empty");
      items.push(li);
    }
    list.replaceChildren(...items);
  }

  toggle.addEventListener("click", function () {
    panel.hidden = !panel.hidden;
    toggle.setAttribute("aria-expanded", String(!panel.hidden));
    if (!panel.hidden) fill();
  });
  readAll.addEventListener("click", async function () {
    const res = await ZT.api("POST", "/inbox/read", {});
    if (res.ok) await fill();
  });
  new MutationObserver(refresh).observe(nav, { attributes: true, attributeFilter: ["hidden"] });
  // the live stream pushes the count as it changes; polling only while it is not connected
  setInterval(function () {
    if (!(ZT.live && ZT.live.connected())) refresh();
  }, 15000);
  refresh();
  if (ZT.live) {
    ZT.live.on("inbox", function (d) {
      if (!enabled) return;
      bell.hidden = false;
      show(d.unread);
      if (!panel.hidden) fill();
    });
  }
});
