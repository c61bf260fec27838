/* 直通 — 疑似重复 at intake: while staff type an issue's title and content (and the
   enterprise's credit code), the issues this node holds that likely say the same are shown
   under the form (POST /api/v1/duplicates), so a repeat is seen before it is registered.
   Runs once the page's own script has signed in (the "zt:ready" event of zt.js). */
"use strict";
(function () {
  const { cfg, t, h, $, api, label } = window.ZT;
  let timer = null;
  let asked = "";

  function render(items) {
    const box = $("intake-duplicates");
    if (!items.length) {
      box.hidden = true;
      box.replaceChildren();
      return;
    }
    box.replaceChildren(h("strong", null, t("intake.dup.title", { count: items.length })),
      h("ul", { class: "merge-list" }, items.map((c) => h("li", { class: "merge-item", "data-id": c.id },
        h("a", { href: cfg.ui + "/workbench/issues/" + encodeURIComponent(c.number) }, c.number), " ",
        c.title, " ", h("span", { class: "badge badge-" + c.state }, label("state.", c.state)),
        c.same_enterprise ? h("span", { class: "badge badge-ok" }, t("intake.dup.same")) : null,
        h("span", { class: "hint" }, " " + c.enterprise_name + " · " +
          t("intake.dup.score", { score: Math.round(c.score * 100) }))))));
    box.hidden = false;
  }

  async function check() {
    const title = $("intake-title").value.trim();
    const content = $("intake-content").value.trim();
    const credit = $("intake-credit") ? $("intake-credit").value.trim().toUpperCase() : "";
    const body = { title: title, content: content, credit_code: credit.length === 18 ? credit : null };
    const key = JSON.stringify(body);
    if (key === asked || (title + content).length < 4) return;
    asked = key;
    const res = await api("POST", "/duplicates", body);
    if (res.ok && key === asked) render(res.data.items);
  }

  function soon() {
    clearTimeout(timer);
    timer = setTimeout(check, 400);
  }

  window.ZT.whenReady(() => {
    if (!$("intake-duplicates")) return;
    for (const id of ["intake-title", "intake-content", "intake-credit"]) {
      const el = $(id);
      if (el) { el.addEventListener("input", soon); el.addEventListener("change", check); }
    }
  });
})();
