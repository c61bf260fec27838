/* 直通 — live updates: one server-sent event stream per page (GET /api/v1/live).

   The bearer token stays in sessionStorage: EventSource cannot send it as a header, so the
   page trades it for a single-use ticket (POST /live/ticket) and opens the stream with the
   ticket. A ticket opens one stream only, so the browser's own reconnect (same URL) fails
   by design: on any end of the stream this script closes it and, after a growing pause,
   asks for a new ticket and reconnects with `after=<last event id>`, so nothing committed
   meanwhile is missed (the server replays it, or says `reload`).
   Screens listen with ZT.live.on("issue" | "inbox" | "reload", fn); the first listener of
   a signed-in page opens the stream. Exposes window.ZT.live. */
"use strict";
(function () {
  const ZT = window.ZT;
  if (!ZT) return;
  const handlers = { issue: [], inbox: [], reload: [] };
  const supported = typeof window.EventSource === "function";
  let source = null;
  let lastId = null;
  let started = false;
  let connected = false;
  let pause = 1000;
  let timer = null;

  function emit(kind, data) {
    for (const fn of handlers[kind]) {
      try {
        fn(data);
      } catch (e) {
        console.error("zhitong live:", e);
      }
    }
  }

  function schedule(ms) {
    if (timer !== null) return;
    timer = setTimeout(connect, ms === undefined ? pause : ms);
    pause = Math.min(pause * 2, 60000);
  }

  function ended(es) {
    if (source !== es) return;
    es.close();
    source = null;
    connected = false;
    schedule();
  }

  function data(ev) {
    try {
      return JSON.parse(ev.data);
    } catch (e) {
      return {};
    }
  }

  async function connect() {
    timer = null;
    if (!ZT.session.get()) {
      started = false; // signed out: the next sign-in starts again
      return;
    }
    const res = await ZT.api("POST", "/live/ticket", {});
    if (!res.ok) {
      if (res.status === 401 || res.status === 404) started = false;
      else schedule();
      return;
    }
    let url = ZT.cfg.api + "/live?ticket=" + encodeURIComponent(res.data.ticket);
    if (lastId !== null) url += "&after=" + encodeURIComponent(lastId);
    const es = new EventSource(url);
    source = es;
    es.addEventListener("open", () => {
      connected = true;
      pause = 1000;
    });
    es.addEventListener("issue", (ev) => {
      if (ev.lastEventId) lastId = ev.lastEventId;
      emit("issue", data(ev));
    });
    es.addEventListener("inbox", (ev) => emit("inbox", data(ev)));
    es.addEventListener("reload", (ev) => {
      const d = data(ev);
      if (d.seq !== undefined) lastId = String(d.seq);
      emit("reload", d);
    });
    es.addEventListener("bye", () => {
      pause = 1000;
      ended(es);
    });
    es.addEventListener("error", () => ended(es));
  }

  /** Open the stream once, if the page is signed in. */
  function start() {
    if (started || !supported || !ZT.session.get()) return;
    started = true;
    connect();
  }

  /** Call `fn(data)` on every message of `kind`; opens the stream if it is not open. */
  function on(kind, fn) {
    handlers[kind].push(fn);
    start();
  }

  /** Run `fn` `ms` after the first of a burst of calls, once for the whole burst (many
      changes, one reload; a steady stream of changes still reloads every `ms`). */
  function coalesce(fn, ms) {
    let t = null;
    return function () {
      if (t !== null) return;
      t = setTimeout(() => {
        t = null;
        fn();
      }, ms);
    };
  }

  /** The short "已更新 / updated" marker of a row or step that changed meanwhile. */
  function mark() {
    return ZT.h("span", { class: "live-mark", role: "status" }, ZT.t("common.live.updated"));
  }

  /** Mark the newest `n` steps of a timeline (renderTimeline: newest first) as new. */
  function markNew(listEl, n) {
    const steps = Array.from(listEl.children).slice(0, Math.max(0, n));
    for (const li of steps) {
      li.classList.add("step-live");
      const title = li.querySelector(".step-title");
      if (title) title.append(" ", mark());
    }
  }

  window.addEventListener("pagehide", () => {
    if (source) source.close();
    source = null;
    connected = false;
  });
  window.addEventListener("pageshow", (ev) => {
    if (ev.persisted && started && !source) schedule(0); // back from the page cache
  });

  ZT.live = { on: on, start: start, coalesce: coalesce, mark: mark, markNew: markNew,
    connected: () => connected };
})();
