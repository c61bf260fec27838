/* 直通 — the operations screen's rule-floor alarm: once the screen is open (signed in), the
   node's own rules that are looser than a floor set from above (GET /api/v1/rules
   `alarms`; the floor applies meanwhile), each naming the floor, its node and version.
   The rules screen (rules.js) is where an administrator makes them comply. */
"use strict";
(function () {
  const { t, h, $, api } = window.ZT;

  async function show() {
    const res = await api("GET", "/rules");
    if (!res.ok) return;
    const alarms = res.data.alarms || [];
    $("floor-alarms-card").hidden = alarms.length === 0;
    $("floor-alarms").replaceChildren(...alarms.map((a) => h("li", { "data-rule": a.rule },
      t("ops.floors.alarm", { rule: a.rule, value: a.value, floor: a.floor, node: a.issuer,
        version: a.version }))));
  }

  const app = $("app-view");
  if (!app) return;
  if (!app.hidden) show();
  else new MutationObserver((_, observer) => {
    if (!app.hidden) {
      observer.disconnect();
      show();
    }
  }).observe(app, { attributes: true, attributeFilter: ["hidden"] });
})();
