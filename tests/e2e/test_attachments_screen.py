"""An enterprise attaches a photo in the county portal; staff at the city open it in the
workbench — the bytes fetched from the county on demand over gRPC (the city holds only the
replicated metadata), byte-identical, with a thumbnail. Once the issue is escalated to the
city, the enterprise attaches a second photo in the same portal: forwarded to the city,
recorded there, listed back in the portal and opened in the city's workbench.

A real `zhitong up --topology small --no-demo-data` (tests/e2e/federation_helpers.py): the
county's issue reaches the city's pool over NATS with its `attachment_added` event; the
city's download fetches the file from 长兴县 (FetchAttachment, mutual TLS), verifies it
against the hash and caches it. Screenshots: test-artifacts/screenshots/attachments-*.png.
"""

from __future__ import annotations

import hashlib
import io
import re
import urllib.error
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import Browser, expect

from node.demo import demo_companies
from tests.e2e.browser import DESKTOP, Console
from tests.e2e.federation_helpers import (
    CITY,
    COUNTY,
    Federation,
    reload_until,
    running_federation,
)
from tests.e2e.test_federation_flow import login
from tests.support.wait import until_sync

TITLE = "园区道路被施工围挡堵塞"
CONTENT = "园区北门道路被施工围挡堵塞一周，货车无法进出，附现场照片。"
PHOTO = "现场照片.jpg"

expect.set_options(timeout=10_000)


@pytest.fixture(scope="module")
def fed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Federation]:
    with running_federation(tmp_path_factory.mktemp("zhitong-up-attachments")) as running:
        yield running


def photo_file(directory: Path, colour: tuple[int, int, int] = (90, 120, 160)
               ) -> tuple[Path, bytes]:
    out = io.BytesIO()
    image = Image.new("RGB", (800, 600), colour)
    for x in range(0, 800, 40):  # something to look at
        image.paste((230, 200, 40), (x, 280, x + 20, 320))
    image.save(out, format="JPEG", quality=85)
    data = out.getvalue()
    path = directory / PHOTO
    path.write_bytes(data)
    return path, data


@pytest.mark.timeout(240)
def test_a_photo_attached_in_the_county_portal_is_opened_in_the_city_workbench(
        browser: Browser, fed: Federation, shots: Path, console: Console,
        tmp_path: Path) -> None:
    company = demo_companies(COUNTY)[0]
    path, data = photo_file(tmp_path)

    # -- the enterprise submits and attaches the photo in the county portal --------------
    ent = console.watch(browser.new_page(viewport=DESKTOP))
    ent.goto(fed.url(COUNTY) + "/ui/portal")
    login(ent, company.credit_code, company.name, label="统一社会信用代码")
    new = ent.locator("#submit-form")
    new.get_by_label("联系电话").fill(company.phone)
    new.get_by_label("诉求标题").fill(TITLE)
    new.get_by_label("诉求内容").fill(CONTENT)
    new.get_by_role("button", name="提交诉求").click()
    expect(ent).to_have_url(re.compile(rf"/ui/portal/issues/{COUNTY}-\d{{4}}-\d{{6}}$"))
    number = ent.url.rsplit("/", 1)[1]
    card = ent.locator("#attachments-card")
    expect(card).to_be_visible()
    expect(card.locator("#attachments-none")).to_have_text("暂无附件")
    card.get_by_label("选择文件").set_input_files(path)
    card.get_by_role("button", name="上传附件").click()
    expect(ent.locator("#attachments-result")).to_have_text(f"已上传：{PHOTO}")
    item = card.locator(".attachment-item")
    expect(item).to_have_count(1)
    expect(item.locator(".attachment-name")).to_have_text(PHOTO)
    expect(item.locator("img.attachment-thumb")).to_be_visible()
    ent.screenshot(path=shots / "attachments-1-county-portal.png", full_page=True)

    # -- the issue and its attachment reach the city over NATS ---------------------------
    def at_the_city() -> bool:
        try:
            items = fed.get(CITY, f"/issues/{number}/attachments", "leader")["items"]
        except urllib.error.HTTPError:  # 404 until the events have arrived
            return False
        return len(items) == 1

    until_sync(at_the_city, timeout_s=60, interval_s=0.2,
               what="the county's attachment known at the city")

    # -- city staff open it in the workbench: fetched from the county, byte-identical ----
    cw = console.watch(browser.new_page(viewport=DESKTOP))
    cw.goto(f"{fed.url(CITY)}/ui/workbench/issues/{number}")
    login(cw, "leader", "兜底办 陈主任")
    expect(cw.get_by_role("heading", name=TITLE)).to_be_visible()
    wb = cw.locator("#attachments-card")
    row = wb.locator(".attachment-item")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("企业上传")
    thumb = row.locator("img.attachment-thumb")
    expect(thumb).to_be_visible()
    assert thumb.evaluate("img => img.naturalWidth") == 256
    expect(cw.locator("#timeline")).to_contain_text(PHOTO)  # the timeline's step names it
    expect(wb.locator("#attachments-form")).to_be_hidden()  # a replica: nothing to attach
    with cw.expect_download() as caught:
        row.locator(".attachment-name").click()
    download = caught.value
    assert download.suggested_filename == PHOTO  # the Chinese name (RFC 5987)
    saved = tmp_path / "downloaded.jpg"
    download.save_as(saved)
    assert hashlib.sha256(saved.read_bytes()).digest() == hashlib.sha256(data).digest()
    cw.screenshot(path=shots / "attachments-2-city-workbench.png", full_page=True)

    # -- escalated to the city, the enterprise still attaches in its county portal -------
    fed.call(COUNTY, "POST", f"/issues/{number}/escalate", {"reason": "需要市级协调"},
             user="leader")

    def owned_by_the_city() -> bool:
        return bool(fed.get(CITY, f"/issues/{number}", "leader")["owner"] == CITY)

    until_sync(owned_by_the_city, timeout_s=60, interval_s=0.2, what="the city owns it")
    (tmp_path / "more").mkdir()
    more, more_data = photo_file(tmp_path / "more", colour=(160, 90, 60))
    ent.reload()
    card = ent.locator("#attachments-card")
    expect(card.locator(".attachment-item")).to_have_count(1)
    expect(card.locator("#attachments-form")).to_be_visible()  # the enterprise's own
    card.get_by_label("选择文件").set_input_files(more)
    card.get_by_role("button", name="上传附件").click()
    expect(ent.locator("#attachments-result")).to_contain_text(f"已提交：{PHOTO}")

    def recorded_at_the_city() -> bool:
        return len(fed.get(CITY, f"/issues/{number}/attachments", "leader")["items"]) == 2

    until_sync(recorded_at_the_city, timeout_s=60, interval_s=0.2,
               what="the forwarded file recorded by the city")

    def back_in_the_portal() -> None:
        expect(ent.locator("#attachments-card .attachment-item")).to_have_count(2,
                                                                                timeout=2_000)

    reload_until(ent, back_in_the_portal, "the record back in the county portal")
    ent.screenshot(path=shots / "attachments-3-escalated-portal.png", full_page=True)
    cw.reload()
    expect(cw.locator("#attachments-card .attachment-item")).to_have_count(2)
    second = cw.locator("#attachments-card .attachment-item").nth(1)
    with cw.expect_download() as caught:
        second.locator(".attachment-name").click()
    saved2 = tmp_path / "downloaded-2.jpg"
    caught.value.save_as(saved2)
    assert saved2.read_bytes() == more_data  # the city fetched it from the county
