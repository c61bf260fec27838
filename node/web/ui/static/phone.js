/* 直通 — the province's phone summary: tiny on purpose (one request per refresh:
   GET /stats/units, the summary cut to what this page shows, every unit named from the
   division reference data the node ships; each unit's 有感指数 rank of the month from
   GET /index, once a minute). 督办 from here: a unit with overdue issues lists them on a
   tap (GET /summary), and an issue a tier below owns has its button in the own list; each
   sends POST /issues/{number}/supervise, routed down to the owner. */
"use strict";
(function () {
  const d = document;
  const b = d.body;
  const api = b.dataset.api;
  const lang = b.dataset.lang;
  const every = Number(b.dataset.refresh) || 5;
  const S = JSON.parse(d.getElementById("zt-strings").textContent);
  const KEY = "zt.session.phone";
  const $ = (id) => d.getElementById(id);
  const open = new Set(); // units the reader has expanded survive each refresh
  let ownAllowed = true;
  let ranks = {}; // unit code → its 有感指数 rank this month (null: not ranked), GET /index
  let rankedAt = 0;
  let busy = false;
  let first = true;

  function t(k, v) {
    let s = S[k] === undefined ? k : S[k];
    if (v) s = s.replace(/\{(\w+)\}/g, (m, n) => (v[n] === undefined ? m : v[n]));
    return s;
  }
  function name(code, s) {
    return s.name || (code === b.dataset.node ? b.dataset.nodeName : code);
  }
  function h(tag, cls, ...kids) {
    const e = d.createElement(tag);
    if (cls) e.className = cls;
    for (const k of kids.flat(Infinity)) if (k !== null && k !== undefined) e.append(k);
    return e;
  }
  function pct(sums, r) {
    const den = sums[r + "_den"] || 0;
    return den ? (Math.round(((sums[r + "_num"] || 0) / den) * 1000) / 10).toFixed(1) + "%" : "—";
  }
  function token() {
    try {
      const s = JSON.parse(sessionStorage.getItem(KEY) || "null");
      return s && s.expires > Date.now() ? s.token : null;
    } catch (e) {
      return null;
    }
  }
  async function get(path) {
    try {
      const r = await fetch(api + path, { headers: { Authorization: "Bearer " + token() }, cache: "no-store" });
      return { status: r.status, data: await r.json() };
    } catch (e) {
      return { status: 0, data: null };
    }
  }
  function msg(data) {
    const e = data && data.error;
    return e ? (lang === "en" ? e.message_en : e.message) : t("err.network");
  }

  // one light as dot + name + count (never colour alone)
  function chip(l, n) {
    const text = n === undefined ? t("light." + l) : t("light." + l) + " " + n;
    return h("span", "chip " + l + (n === 0 ? " zero" : ""), h("i", null), text);
  }
  function chips(lights) {
    return h("span", "chips", ["red", "yellow", "green"].map((l) => chip(l, (lights || {})[l] || 0)));
  }
  function rates(s, full) {
    const list = full ? ["resolution", "on_time", "satisfaction", "repeat"] : ["on_time", "satisfaction"];
    return h("span", "rates", list.map((r) => [h("span", "k", t("phone.rate." + r)), h("b", null, pct(s.sums || {}, r))]));
  }
  // overdue (red: the running deadline has passed) and the commonest tags, from the summary
  function extra(s, n) {
    const tags = (s.top_tags || []).slice(0, n).map((x) => x.tag);
    const red = s.overdue || 0;
    return h("p", "x", h("span", "overdue" + (red ? "" : " zero"), t("phone.overdue", { n: red })),
      tags.length ? h("span", "tags", tags.join("、")) : null);
  }
  function rankEl(code) {
    if (!(code in ranks)) return null;
    const n = ranks[code];
    const e = h("span", "rank" + (n === null ? " zero" : ""), n === null ? t("phone.rank.none") : t("phone.rank", { n }));
    e.dataset.rank = n === null ? "" : String(n);
    return e;
  }
  function unitLine(code, s) {
    let sv = null;
    if (s.overdue) {
      sv = h("button", "link sv", t("phone.supervise"));
      sv.type = "button";
      sv.addEventListener("click", (ev) => {
        ev.preventDefault(); // inside a <summary>: no toggle
        supervise(code, name(code, s));
      });
    }
    return [h("span", "u", h("b", null, name(code, s)), rankEl(code), h("small", null, t("phone.count", { n: s.total }))), chips(s.lights), rates(s, false), extra(s, 3), sv];
  }
  async function post(path, body) {
    try {
      const r = await fetch(api + path, { method: "POST", headers: { Authorization: "Bearer " + token(), "Content-Type": "application/json" }, body: JSON.stringify(body) });
      return { status: r.status, data: await r.json() };
    } catch (e) {
      return { status: 0, data: null };
    }
  }
  // 督办: POST /issues/{number}/supervise, routed down to the tier that owns the issue;
  // what each send answered survives the refreshes
  const sent = {};
  function svSend(number) {
    const out = h("span", sent[number] ? sent[number][0] : "muted", sent[number] ? sent[number][1] : null);
    out.setAttribute("role", "status");
    const go = h("button", "sv-go", t("phone.supervise.send"));
    go.type = "button";
    go.disabled = !!sent[number] && sent[number][0] === "ok";
    go.addEventListener("click", async () => {
      go.disabled = true;
      const a = await post("/issues/" + encodeURIComponent(number) + "/supervise", { kind: "supervise", note: $("sv-note").value.trim() || null });
      sent[number] = a.status === 202 ? ["ok", t("phone.supervise.done")] : ["err", msg(a.data)];
      go.disabled = a.status === 202;
      out.className = sent[number][0];
      out.textContent = sent[number][1];
    });
    return [go, out];
  }
  // a unit's overdue list (GET /summary, on demand), each issue one tap from its 督办
  async function supervise(code, label) {
    $("sv-h").textContent = t("phone.supervise") + " · " + label;
    $("sv").hidden = false;
    const r = await get("/summary?depth=2");
    const kids = r.status === 200 ? r.data.children || {} : {};
    const unit = kids[code] || Object.values(kids).map((c) => (c.children || {})[code]).find(Boolean);
    const items = unit ? unit.overdue : [];
    $("sv-list").replaceChildren(...(r.status !== 200 ? [h("li", "err", msg(r.data))] : items.length ? items.map((i) => {
      const li = h("li", "issue", h("span", "u", h("b", null, i.title), h("small", null, i.number)), svSend(i.number));
      li.dataset.number = i.number;
      return li;
    }) : [h("li", "muted", t("phone.supervise.none"))]));
    $("sv").scrollIntoView();
  }
  // the index ranks of counties and cities (this month), refreshed once a minute
  async function loadRanks() {
    if (Date.now() - rankedAt < 60000) return;
    const got = await Promise.all(["county", "city"].map((l) => get("/index?level=" + l)));
    const next = {};
    for (const r of got) {
      if (r.status !== 200) return;
      for (const row of r.data.rows) next[row.unit] = row.rank;
    }
    ranks = next;
    rankedAt = Date.now();
  }

  function render(sum, own) {
    $("asof").textContent = t("phone.asof", { time: new Date(sum.as_of).toLocaleTimeString(lang, { timeZone: "Asia/Shanghai", hour12: false }) });
    $("total-body").replaceChildren(
      h("p", "big", h("b", null, String(sum.total)), " ", t("phone.issues")), chips(sum.lights), rates(sum, true), extra(sum, 5));
    const kids = Object.entries(sum.children || {}).sort(([a], [c]) => a.localeCompare(c));
    $("units").replaceChildren(kids.length ? h("ul", "list units", kids.map(([code, s]) => {
      const sub = Object.entries(s.children || {}).sort(([a], [c]) => a.localeCompare(c));
      if (!sub.length) return h("li", "unit", unitLine(code, s));
      const det = h("details", "unit", h("summary", null, unitLine(code, s)),
        h("ul", "list sub", sub.map(([cc, cs]) => h("li", "unit", unitLine(cc, cs)))));
      det.dataset.code = code;
      det.open = open.has(code);
      det.addEventListener("toggle", () => (det.open ? open.add(code) : open.delete(code)));
      return h("li", null, det);
    })) : h("p", "muted", t("phone.units.none")));
    $("own").hidden = !own;
    if (own) {
      $("own-list").replaceChildren(...(own.items.length ? own.items.map((i) => {
        const li = h("li", "issue", h("span", "u", h("b", null, i.title), h("small", null, i.number)),
          i.light ? chip(i.light) : h("span", "chip none", t("phone.no_deadline")),
          i.allowed_actions.includes("supervise") ? svSend(i.number) : null); // owned below
        li.dataset.number = i.number;
        return li;
      }) : [h("li", "muted", t("phone.own.none"))]));
    }
  }

  async function refresh() {
    if (busy || d.hidden || !token()) return;
    busy = true;
    const [sum, own] = await Promise.all([get("/stats/units"), ownAllowed ? get("/issues?limit=20") : null, loadRanks()]);
    busy = false;
    if (sum.status === 401) return logout();
    if (sum.status !== 200) {
      $("error").textContent = msg(sum.data);
      $("error").hidden = false;
      return;
    }
    $("error").hidden = true;
    if (own && own.status !== 200) ownAllowed = false; // a viewer may not see issues: hide the section
    render(sum.data, own && own.status === 200 ? own.data : null);
    if (first) {
      first = false;
      performance.mark("zt-first-data");
      b.dataset.loaded = "1";
    }
  }

  function logout() {
    sessionStorage.removeItem(KEY);
    $("app").hidden = true;
    $("login-form").hidden = false;
  }

  function start() {
    $("login-form").hidden = true;
    $("app").hidden = false;
    refresh();
  }

  $("login-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    // currentTarget is null once the handler has awaited: keep the form itself.
    const form = ev.currentTarget;
    const f = form.elements;
    const err = $("login-error");
    let r;
    try {
      const res = await fetch(api + "/auth/login", {
        method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ username: f.username.value.trim(), password: f.password.value }),
      });
      r = { status: res.status, data: await res.json() };
    } catch (e) {
      r = { status: 0, data: null };
    }
    if (r.status !== 200) {
      err.textContent = msg(r.data);
      err.hidden = false;
      return;
    }
    err.hidden = true;
    sessionStorage.setItem(KEY, JSON.stringify({ token: r.data.access_token, expires: Date.now() + (r.data.expires_in - 5) * 1000 }));
    form.reset();
    ownAllowed = true;
    start();
  });
  $("logout").addEventListener("click", logout);
  setInterval(refresh, every * 1000);
  d.addEventListener("visibilitychange", refresh);
  if (token()) start();
  else $("login-form").hidden = false;
})();
