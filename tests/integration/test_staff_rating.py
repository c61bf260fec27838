"""A rating taken during a phone revisit, recorded by staff (代录评价), over HTTP: who may,
what the event says (recorded by staff: who, when, how), and that the enterprise's own
rating rules stay."""

from __future__ import annotations

from tests.support.api import Api, assert_error, unchanged


def test_staff_record_a_phone_rating_marked_as_theirs_in_the_timeline(api: Api) -> None:
    key = api.submit()["id"]
    api.resolved(key)
    for who, status, code in (("ent_a", 403, "forbidden"), ("handler", 403, "forbidden")):
        with unchanged(api, key):
            assert_error(api.post(who, f"/issues/{key}/staff-rating",
                                  {"rating": "satisfied"}), status, code)
    resp = api.post("dispatcher", f"/issues/{key}/staff-rating",
                    {"rating": "basically_satisfied", "comment": "电话回访：基本满意",
                     "contact": "phone"})
    assert resp.status_code == 200, resp.text
    assert (resp.json()["state"], resp.json()["rating"]) == ("closed", "basically_satisfied")
    seen = api.issue(key, "ent_a")["timeline"][-1]  # the enterprise sees it as staff's
    assert (seen["kind"], seen["actor"], seen["payload"]["recorded_by_staff"]) == (
        "accept", "staff", True)
    last = api.issue(key)["timeline"][-1]  # staff see who recorded it, and when
    assert last["kind"] == "accept" and last["actor"] == "staff:dispatcher"
    assert last["payload"]["recorded_by_staff"] is True
    assert last["payload"]["contact"] == "phone" and last["at"]
    # rated once: neither staff nor the enterprise can rate a closed issue again
    assert api.post("dispatcher", f"/issues/{key}/staff-rating",
                    {"rating": "unsatisfied"}).status_code == 409
    assert api.action("ent_a", key, "rate", rating="unsatisfied").status_code == 409


def test_an_unsatisfied_phone_rating_reopens_and_the_enterprise_rates_as_before(
        api: Api) -> None:
    key = api.submit()["id"]
    api.resolved(key)
    other = api.submit(title="另一诉求")["id"]
    with unchanged(api, other):  # only a resolved issue is rated, by anyone
        assert_error(api.post("dispatcher", f"/issues/{other}/staff-rating",
                              {"rating": "satisfied"}), 409, "illegal_transition")
    done = api.post("leader", f"/issues/{key}/staff-rating",
                    {"rating": "unsatisfied", "comment": "仍未解决"}).json()
    assert done["state"] == "reopened"
    own = api.issue(key)["timeline"]
    assert own[-1]["kind"] == "reopen" and own[-1]["payload"]["recorded_by_staff"] is True
    # the enterprise's own rating carries no such mark
    key2 = api.submit(title="第三诉求")["id"]
    api.resolved(key2)
    api.act("ent_a", key2, "rate", rating="satisfied")
    mine = api.issue(key2)["timeline"][-1]
    assert mine["actor"].startswith("enterprise:") and "recorded_by_staff" not in mine["payload"]
