/* 直通 Zhitong — what every screen shares: the page's strings, the JSON API with the bearer
   token kept in sessionStorage, the login form, DOM building and formatting.
   Hand-written, no build step, no third-party code; exposes one global, window.ZT. */
"use strict";
(function () {
  const body = document.body;
  const cfg = {
    api: body.dataset.api,
    ui: body.dataset.ui,
    lang: body.dataset.lang,
    app: body.dataset.app,
    node: body.dataset.node,
    nodeName: body.dataset.nodeName,
    key: body.dataset.key || null,
    refresh: Number(body.dataset.refresh || 0),
  };
  const strings = JSON.parse(document.getElementById("zt-strings").textContent || "{}");
  let skewMs = 0; // the server's clock minus this computer's (from the Date header)

  // ------------------------------------------------------------------ strings

  function has(key) {
    return Object.prototype.hasOwnProperty.call(strings, key);
  }

  /** The string `key` of the page's language, with {name} placeholders filled in. */
  function t(key, vars) {
    if (!has(key)) {
      console.warn("zhitong: missing string " + key);
      return key;
    }
    let s = strings[key];
    if (vars) {
      s = s.replace(/\{(\w+)\}/g, (m, k) => (vars[k] !== undefined ? String(vars[k]) : m));
    }
    return s;
  }

  /** The label of an enum value (state, event kind, …), or the value itself if unknown. */
  function label(prefix, value) {
    return has(prefix + value) ? strings[prefix + value] : String(value);
  }

  /** A division's name: from the dictionary, this node's own name, or its code. */
  function unitName(code) {
    if (has("unit." + code)) return strings["unit." + code];
    if (code === cfg.node) return cfg.nodeName;
    return code;
  }

  // ------------------------------------------------------------------ DOM

  /** h("p", {class: "x", onclick: f}, "text", child, [more]) — never parses HTML. */
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    if (attrs) {
      for (const [k, v] of Object.entries(attrs)) {
        if (v === null || v === undefined || v === false) continue;
        if (k === "class") el.className = v;
        else if (k === "text") el.textContent = v;
        else if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
        else el.setAttribute(k, v === true ? "" : String(v));
      }
    }
    for (const c of children.flat(Infinity)) {
      if (c === null || c === undefined || c === false) continue;
      el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
  }

  function $(id) {
    return document.getElementById(id);
  }

  function notice(el, text, kind) {
    if (!el) return;
    el.textContent = text || "";
    el.hidden = !text;
    if (kind) el.className = "notice notice-" + kind;
  }

  // ------------------------------------------------------------------ session and API

  const sessionKey = "zt.session." + cfg.app;
  const session = {
    get() {
      try {
        const s = JSON.parse(sessionStorage.getItem(sessionKey) || "null");
        return s && s.token && s.expires > Date.now() ? s : null;
      } catch (e) {
        return null;
      }
    },
    save(token, expiresIn) {
      const expires = Date.now() + Math.max(0, expiresIn - 5) * 1000;
      sessionStorage.setItem(sessionKey, JSON.stringify({ token: token, expires: expires }));
    },
    clear() {
      sessionStorage.removeItem(sessionKey);
    },
  };

  function localError(code, key) {
    const text = t(key);
    return { code: code, message: text, message_en: text, details: {} };
  }

  /** Call the JSON API. Resolves to {ok, status, data} or {ok: false, status, error}. */
  async function api(method, path, payload, extraHeaders) {
    const headers = Object.assign({ Accept: "application/json",
      "Accept-Language": cfg.lang === "en" ? "en" : "zh-CN" }, extraHeaders || {});  // unit names
    const s = session.get();
    if (s) headers.Authorization = "Bearer " + s.token;
    const init = { method: method, headers: headers, credentials: "omit", cache: "no-store" };
    if (payload !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(payload);
    }
    let res;
    try {
      res = await fetch(cfg.api + path, init);
    } catch (e) {
      return { ok: false, status: 0, error: localError("network", "err.network") };
    }
    const date = Date.parse(res.headers.get("Date") || "");
    if (!Number.isNaN(date)) skewMs = date - Date.now();
    let data = null;
    try {
      data = await res.json();
    } catch (e) {
      data = null;
    }
    if (res.ok) return { ok: true, status: res.status, data: data, headers: res.headers };
    const error = (data && data.error) || localError("http_" + res.status, "err.unknown");
    if (res.status === 401 && s) {
      session.clear();
      showLogin(t("err.session_expired"));
    }
    return { ok: false, status: res.status, error: error };
  }

  /** Fetch a file of the API (`path` under cfg.api) with the session's token and save it
      under the name the node gives (Content-Disposition), else `fallback`. Resolves to null
      when saved, or to the refusal's error (for errorText). */
  async function download(path, fallback) {
    const s = session.get();
    let res;
    try {
      res = await fetch(cfg.api + path,
        { headers: s ? { Authorization: "Bearer " + s.token } : {}, credentials: "omit" });
    } catch (e) {
      return localError("network", "err.network");
    }
    if (!res.ok) {
      let error = null;
      try { error = (await res.json()).error; } catch (e) { error = null; }
      return error || localError("http_" + res.status, "err.unknown");
    }
    const disposition = res.headers.get("Content-Disposition") || "";
    const utf8 = (/filename\*=UTF-8''([^;]+)/i.exec(disposition) || [])[1];  // RFC 5987
    const name = (utf8 && decodeURIComponent(utf8))
      || (/filename="([^"]+)"/.exec(disposition) || [])[1] || fallback;
    const a = h("a", { href: URL.createObjectURL(await res.blob()), download: name });
    document.body.append(a);
    a.click();
    setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
    return null;
  }

  /** The refusal's message in the page's language. */
  function errorText(error) {
    if (!error) return t("err.unknown");
    return cfg.lang === "en" ? error.message_en || error.message : error.message || error.message_en;
  }

  /** A fresh Idempotency-Key (crypto.randomUUID needs a secure context; plain http is not). */
  function newKey() {
    if (window.crypto && typeof window.crypto.randomUUID === "function") return crypto.randomUUID();
    const bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  // ------------------------------------------------------------------ login

  let bootOptions = null;

  function showLogin(message) {
    const app = $("app-view");
    if (app) app.hidden = true;
    $("userbox").hidden = true;
    const nav = $("subnav");
    if (nav) nav.hidden = true;
    $("login-view").hidden = false;
    notice($("login-error"), message || "", "error");
    $("login-username").focus();
  }

  function enter(me) {
    $("login-view").hidden = true;
    $("app-view").hidden = false;
    $("user-name").textContent = me.display_name + " · " + label("role.", me.role);
    $("userbox").hidden = false;
    const nav = $("subnav");
    if (nav) nav.hidden = false;
    $("main").focus({ preventScroll: true }); // the login form that had focus is gone
    bootOptions.onReady(me);
    readyMe = me;
    document.dispatchEvent(new CustomEvent("zt:ready", { detail: me }));  // add-on scripts
  }

  /** An add-on script's start once the page has signed in: at once when it already has (a
      page opened with a session may sign in before a later deferred script has run), else
      at the "zt:ready" event — once either way. */
  let readyMe = null;
  function whenReady(fn) {
    if (readyMe) fn({ detail: readyMe });
    else document.addEventListener("zt:ready", fn, { once: true });
  }

  async function onLogin(ev) {
    ev.preventDefault();
    const form = ev.currentTarget;
    const errorBox = $("login-error");
    const button = form.querySelector("button[type=submit]");
    let username = form.elements.username.value.trim();
    const password = form.elements.password.value;
    if (bootOptions.upperCaseUsername) username = username.toUpperCase();
    if (!username || !password) {
      notice(errorBox, t("err.login_required"), "error");
      return;
    }
    button.disabled = true;
    const res = await api("POST", "/auth/login", { username: username, password: password });
    if (res.ok && !bootOptions.roles.includes(res.data.role)) {
      button.disabled = false;
      notice(errorBox, t("err.role_not_allowed", { role: label("role.", res.data.role) }), "error");
      return;
    }
    if (res.ok) session.save(res.data.access_token, res.data.expires_in);
    const me = res.ok ? await api("GET", "/me") : res;
    button.disabled = false;
    if (!me.ok) {
      session.clear();
      notice(errorBox, errorText(me.error), "error");
      form.elements.password.value = "";
      form.elements.password.focus();
      return;
    }
    form.reset();
    notice(errorBox, "", "error");
    enter(me.data);
  }

  /** Show the login form or, with a valid session of an allowed role, the screen. */
  async function boot(options) {
    bootOptions = options;
    $("login-form").addEventListener("submit", onLogin);
    $("logout").addEventListener("click", () => {
      session.clear();
      location.reload();
    });
    if (!session.get()) return showLogin("");
    const me = await api("GET", "/me");
    if (me.ok && options.roles.includes(me.data.role)) return enter(me.data);
    // A session of another role (staff share one between workbench and cockpit) is kept.
    if (me.ok) return showLogin(t("err.role_not_allowed", { role: label("role.", me.data.role) }));
    session.clear();
    return showLogin(me.status === 401 ? t("err.session_expired") : errorText(me.error));
  }

  // ------------------------------------------------------------------ formatting

  const TZ = "Asia/Shanghai"; // deadlines run on China Standard Time wherever the screen is
  const dateParts = new Intl.DateTimeFormat("en-GB", {
    timeZone: TZ, year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23",
  });

  function partsOf(ms) {
    const p = {};
    for (const part of dateParts.formatToParts(new Date(ms))) p[part.type] = part.value;
    return p;
  }

  function fmtTime(iso, withSeconds) {
    if (!iso) return "—";
    const p = partsOf(Date.parse(iso));
    const base = p.year + "-" + p.month + "-" + p.day + " " + p.hour + ":" + p.minute;
    return withSeconds ? base + ":" + p.second : base;
  }

  /** A deadline: one falling due at midnight is shown as 24:00 of its last working day. */
  function fmtDue(iso) {
    if (!iso) return "—";
    const p = partsOf(Date.parse(iso));
    if (p.hour !== "00" || p.minute !== "00" || p.second !== "00") return fmtTime(iso);
    const q = partsOf(Date.parse(iso) - 1000);
    return q.year + "-" + q.month + "-" + q.day + " 24:00";
  }

  function timeEl(iso, withSeconds) {
    return h("time", { datetime: iso }, fmtTime(iso, withSeconds));
  }

  function dueEl(iso) {
    return h("time", { datetime: iso }, fmtDue(iso));
  }

  function serverNow() {
    return Date.now() + skewMs;
  }

  function fmtRate(x) {
    return x === null || x === undefined ? "—" : (Math.round(x * 1000) / 10).toFixed(1) + "%";
  }

  function fmtNum(n) {
    return Number(n || 0).toLocaleString(cfg.lang);
  }

  /** "剩余 2 天 3 小时 5 分" / "已超期 …" until `dueIso` (calendar time, server clock). */
  function countdown(dueIso) {
    const ms = Date.parse(dueIso) - serverNow();
    const abs = Math.abs(ms);
    const v = {
      d: Math.floor(abs / 864e5),
      h: Math.floor((abs % 864e5) / 36e5),
      m: Math.floor((abs % 36e5) / 6e4),
    };
    return t(ms >= 0 ? "common.countdown.left" : "common.countdown.over", v);
  }

  /** A light as a coloured dot plus its name (never colour alone). */
  function lightEl(light, count) {
    const name = light || "none";
    return h("span", { class: "light light-" + name, title: has("light." + name + ".desc") ? t("light." + name + ".desc") : null },
      h("span", { class: "dot", "aria-hidden": "true" }),
      t("light." + name),
      count === undefined ? null : h("span", { class: "light-count" }, fmtNum(count)));
  }

  /** What a step was: its event kind, except that a `return` is also how a tier hands an
      issue it owns down to a child (交办下级, POST /issues/{key}/dispatch). It is a return
      only if the issue came up from that child: an earlier `receive` from it (or, in the
      enterprise's view without the payload's units, one written by the same node). */
  function stepKind(ev, events) {
    if (ev.kind !== "return") return ev.kind;
    const to = (ev.payload || {}).to;
    const cameUp = events.some((e) => {
      if (e.kind !== "receive" || e.version >= ev.version) return false;
      const from = (e.payload || {}).came_from;
      return to && from ? from === to : e.node === ev.node;
    });
    return cameUp ? "return" : "dispatch";
  }

  /** The state's dictionary key: `returned` reached by a dispatch is an issue handed down
      from above ("dispatched"), not one sent back. `events`: the timeline, when
      known; `upTo`: the state as of that version (default: now). */
  function stateKey(state, events, upTo) {
    if (state !== "returned" || !events || !events.length) return state;
    let last = null;
    for (const e of events) {
      if (e.kind === "return" && (upTo === undefined || e.version <= upTo)
          && (!last || e.version > last.version)) last = e;
    }
    return last && stepKind(last, events) === "dispatch" ? "dispatched" : state;
  }

  /** The state's badge; with the timeline, a dispatched issue is not called returned. */
  function stateEl(state, events) {
    return h("span", { class: "badge badge-" + state }, label("state.", stateKey(state, events)));
  }

  function actorText(actor) {
    const i = actor.indexOf(":");
    const kind = i < 0 ? actor : actor.slice(0, i);
    const id = i < 0 ? "" : actor.slice(i + 1);
    const kindText = label("event.actor.", kind);
    return id && kind !== "enterprise" ? kindText + " " + id : kindText;
  }

  /** Organisation units by id → name (GET /units, this node's and its children's), for the
      staff screens that show unit ids: loaded once by `loadUnitNames`, else ids stay ids. */
  const unitNames = {};
  let unitNamesLoaded = null;
  function loadUnitNames() {
    if (!unitNamesLoaded) {
      unitNamesLoaded = api("GET", "/units?everywhere=true").then((res) => {
        if (res.ok) for (const u of res.data) unitNames[u.id] = u.name;
      });
    }
    return unitNamesLoaded;
  }
  function unitLabel(id) {
    return id ? unitNames[id] || id : id;
  }

  /** The parcel-tracker timeline, newest step first. `staff` shows notes and actors. */
  function renderTimeline(listEl, events, staff) {
    const rows = events.slice().sort((a, b) => b.version - a.version);
    listEl.replaceChildren(...rows.map((ev, i) => {
      const p = ev.payload || {};
      const facts = [];
      const add = (key, value) => facts.push(h("p", { class: "step-fact" },
        h("span", { class: "step-key" }, t(key)), " ", value));
      if (p.deadline && p.deadline.due) {
        add("event.field.deadline", label("deadline.", p.deadline.kind) + " · " + fmtDue(p.deadline.due));
      }
      if (ev.kind === "submitted" && p.channel) add("event.field.channel", label("channel.", p.channel));
      if (p.reply) add("event.field.reply", h("span", { class: "pre" }, p.reply));
      if (p.reason) add("event.field.reason", h("span", { class: "pre" }, p.reason));
      if (p.rating) add("event.field.rating", label("rating.", p.rating));
      if (p.comment) add("event.field.comment", p.comment);
      if (p.attachment && p.attachment.name) add("event.field.attachment", p.attachment.name);
      if (p.recorded_by_staff) add("event.field.recorded_by_staff", label("revisit.contact.", p.contact || "other"));
      if (staff) {
        if (p.tags && p.tags.length && ev.kind !== "submitted") add("event.field.tags", p.tags.join("、"));
        if (p.board) add("event.field.board", unitLabel(p.board));
        if (p.department) add("event.field.department", unitLabel(p.department));
        if (p.step_name) add("event.field.ladder", label("ladder.", p.step_name));
        if (p.result) add("event.field.revisit", label("revisit.", p.result));
        if (p.to) add("event.field.to", unitName(p.to) + " (" + p.to + ")");
        if (p.issued_by) add("event.field.issued_by", unitName(p.issued_by) + " (" + p.issued_by + ")");
        if (p.came_from) add("event.field.came_from", unitName(p.came_from) + " (" + p.came_from + ")");
        if (p.instructions) add("event.field.instructions", p.instructions);
        if (p.note) add("event.field.note", p.note);
        if (p.calendar_warnings) add("event.field.warnings", p.calendar_warnings.join("；"));
      }
      const kind = stepKind(ev, events);
      const state = p.state ? stateKey(p.state, events, ev.version) : null;
      return h("li", { class: "step" + (i === 0 ? " step-current" : ""), "data-kind": kind },
        h("span", { class: "step-dot", "aria-hidden": "true" }),
        h("div", { class: "step-body" },
          h("p", { class: "step-title" }, h("strong", null, label("event.", kind)),
            state ? h("span", { class: "step-state" }, label("state.", state)) : null),
          h("p", { class: "step-meta" }, timeEl(ev.at, true), " · ", actorText(ev.actor)),
          facts));
    }));
  }

  /** A table: columns [{key, label, render?, num?}], rows of objects. */
  function table(columns, rows, opts) {
    const o = opts || {};
    return h("table", { class: "table" + (o.class ? " " + o.class : "") },
      o.caption ? h("caption", { class: o.captionHidden ? "visually-hidden" : null }, o.caption) : null,
      h("thead", null, h("tr", null, columns.map((c) =>
        h("th", { scope: "col", class: c.num ? "num" : null }, c.label)))),
      h("tbody", null, rows.length ? rows.map((r) => h("tr", { class: r._class || null },
        columns.map((c, i) => h(i === 0 && o.rowHeaders ? "th" : "td",
          { scope: i === 0 && o.rowHeaders ? "row" : null, class: c.num ? "num" : null },
          c.render ? c.render(r) : r[c.key])))) :
        h("tr", null, h("td", { colspan: columns.length, class: "empty" }, o.empty || t("common.empty")))));
  }

  /** Run `fn` now and every `seconds`, skipping while the tab is hidden or paused. */
  function every(seconds, fn) {
    const state = { paused: false, busy: false };
    async function tick() {
      if (state.paused || state.busy || document.hidden) return;
      state.busy = true;
      try {
        await fn();
      } finally {
        state.busy = false;
      }
    }
    tick();
    if (seconds > 0) setInterval(tick, seconds * 1000);
    document.addEventListener("visibilitychange", () => {
      if (!document.hidden) tick();
    });
    return state;
  }

  window.ZT = {
    cfg, t, has, label, unitName, h, $, notice, session, api, download, errorText, newKey, boot,
    fmtTime, fmtDue, timeEl, dueEl, fmtRate, fmtNum, countdown, serverNow, lightEl, stateEl,
    renderTimeline, table, every, loadUnitNames, unitLabel, whenReady,
  };
})();
