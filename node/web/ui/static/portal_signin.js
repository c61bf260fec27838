/* 直通 — the portal's sign-in by SMS code (the login card's first tab).

   Credit code → 获取验证码 (POST /auth/enterprise/code: the same answer whether the credit
   code is known or not; the button then counts down `resend_after` seconds) → the six
   digits from the SMS → 登录 (POST /auth/enterprise/verify, the session of the password
   login). The session is kept like the password login's (ZT.session) and the page starts
   again signed in. No inline script: this file is loaded by the page (CSP). */
"use strict";
(function () {
  const { t, $, notice, session, api, errorText } = window.ZT;

  // Back from the identity provider (GET /api/v1/auth/oidc/callback): the session is in
  // the URL fragment, which no server sees; keep it and start again without it.
  const back = new URLSearchParams(location.hash.slice(1));
  if (back.get("sso")) {
    session.save(back.get("sso"), Number(back.get("expires_in")) || 3600);
    history.replaceState(null, "", location.pathname + location.search);
    location.reload();
    return;
  }

  const tabs = [$("tab-sms"), $("tab-password")];
  if (!tabs[0]) return;
  const panels = { "tab-sms": $("sms-form"), "tab-password": $("login-form") };

  function select(tab, focus) {
    for (const other of tabs) {
      const on = other === tab;
      other.setAttribute("aria-selected", on ? "true" : "false");
      other.tabIndex = on ? 0 : -1;
      panels[other.id].hidden = !on;
    }
    if (focus) tab.focus();
  }

  for (const tab of tabs) {
    tab.addEventListener("click", () => select(tab, false));
    tab.addEventListener("keydown", (ev) => {  // arrow keys move between tabs
      if (ev.key !== "ArrowLeft" && ev.key !== "ArrowRight") return;
      ev.preventDefault();
      select(tabs[(tabs.indexOf(tab) + 1) % tabs.length], true);
    });
  }
  $("login-form").setAttribute("role", "tabpanel");
  $("login-form").setAttribute("aria-labelledby", "tab-password");
  select(tabs[0], false);

  const form = $("sms-form");
  const send = $("sms-send");
  const status = $("sms-status");
  const errorBox = $("sms-error");
  let timer = null;

  function creditCode() {
    return form.elements.credit_code.value.trim().toUpperCase();
  }

  function countdown(seconds) {
    let left = seconds;
    clearInterval(timer);
    const tick = () => {
      if (left <= 0) {
        clearInterval(timer);
        send.disabled = false;
        send.textContent = t("portal.signin.get_code");
        return;
      }
      send.disabled = true;
      send.textContent = t("portal.signin.resend_in", { seconds: left });
      left -= 1;
    };
    tick();
    timer = setInterval(tick, 1000);
  }

  send.addEventListener("click", async () => {
    notice(errorBox, "", "error");
    const code = creditCode();
    if (code.length !== 18) {
      notice(errorBox, t("portal.signin.need_credit_code"), "error");
      form.elements.credit_code.focus();
      return;
    }
    send.disabled = true;
    const res = await api("POST", "/auth/enterprise/code", { credit_code: code });
    if (!res.ok) {
      send.disabled = false;
      notice(errorBox, errorText(res.error), "error");
      const wait = Number((res.error.details || {}).retry_after || 0);
      if (res.status === 429 && wait > 0) countdown(Math.min(wait, 3600));
      return;
    }
    notice(status, t("portal.signin.sent", { minutes: Math.round(res.data.expires_in / 60) }), "ok");
    countdown(res.data.resend_after);
    form.elements.code.focus();
  });

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    notice(errorBox, "", "error");
    const code = creditCode();
    const digits = form.elements.code.value.replace(/\s+/g, "");
    if (code.length !== 18 || !/^\d{6}$/.test(digits)) {
      notice(errorBox, t("portal.signin.need_code"), "error");
      (code.length !== 18 ? form.elements.credit_code : form.elements.code).focus();
      return;
    }
    const button = $("sms-submit");
    button.disabled = true;
    const res = await api("POST", "/auth/enterprise/verify", { credit_code: code, code: digits });
    button.disabled = false;
    if (!res.ok) {
      notice(errorBox, errorText(res.error), "error");
      form.elements.code.value = "";
      form.elements.code.focus();
      return;
    }
    session.save(res.data.access_token, res.data.expires_in);
    location.reload();  // boot() finds the session and opens the portal
  });
})();
