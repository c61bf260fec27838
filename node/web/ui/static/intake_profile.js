/* 直通 — on the intake screen: an enterprise's industry and size, recorded by intake staff
   when the enterprise agrees, so that the policy library's matching (node/app/policies.py)
   is more precise. PUT /api/v1/enterprise-profile {credit_code, industry, size, consent}:
   values without consent are refused; no values and no consent delete what was recorded. The credit code follows the intake
   form's until typed here. Runs once the screen has signed in ("zt:ready" of zt.js). */
"use strict";
(function () {
  const { t, h, $, notice, api, errorText, label } = window.ZT;

  async function onSave(ev) {
    ev.preventDefault();
    const f = ev.currentTarget;
    const consent = f.elements.consent.checked;
    const code = f.elements.credit_code.value.trim().toUpperCase();
    // sent as chosen: values without consent are refused (policy_profile_needs_consent);
    // no values and no consent deletes what was recorded
    const res = await api("PUT", "/enterprise-profile", {
      credit_code: code || null, consent: consent,
      industry: f.elements.industry.value || null, size: f.elements.size.value || null });
    if (!res.ok) return notice($("intake-profile-result"), errorText(res.error), "error");
    notice($("intake-profile-result"), t(consent ? "intake.profile.saved" : "intake.profile.cleared",
      { code: res.data.credit_code }), "ok");
  }

  window.ZT.whenReady(() => {
    const f = $("intake-profile-form");
    if (!f) return;
    f.elements.industry.replaceChildren(h("option", { value: "" }, t("intake.profile.choose")),
      ..."ABCDEFGHIJKLMNOPQRST".split("").map((x) => h("option", { value: x }, label("policies.industry.", x))));
    const credit = $("intake-credit");
    let typed = false;
    f.elements.credit_code.addEventListener("input", () => { typed = true; });
    if (credit) credit.addEventListener("input", () => { if (!typed) f.elements.credit_code.value = credit.value; });
    f.addEventListener("submit", onSave);
  });
})();
