"""The tag library screen in a real browser, through its own forms: an admin signs in
through the login form, creates a category and two tags; a dispatcher triages an issue by
ticking a library tag in the triage form (a free-text tag is refused, naming it); the admin
merges one tag into the other, and the tree shows the merge and the change log lists it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from tests.e2e.browser import DESKTOP, USERS, Console, Served, login, serve
from tests.support.data import CODE_A, make_config, submit_body

expect.set_options(timeout=15_000)


@pytest.fixture
def county(tmp_path: Path) -> Iterator[Served]:
    yield from serve(make_config(tmp_path), USERS)


def test_an_admin_builds_the_library_and_a_dispatcher_triages_with_it(
    county: Served, browser: Browser, console: Console, shots: Path
) -> None:
    started = time.monotonic()
    admin = console.watch(browser.new_page(viewport=DESKTOP))
    admin.goto(county.base + "/ui/workbench")
    login(admin, "admin")
    admin.get_by_role("link", name="标签库").click()
    expect(admin.get_by_role("heading", name="标签库", exact=True)).to_be_visible()
    expect(admin.locator("#tags-not-in-force")).to_be_visible()

    category = admin.locator("#category-form")
    category.get_by_label("中文名称", exact=True).fill("要素保障")
    category.get_by_label("英文名称", exact=True).fill("Factor supply")
    category.get_by_role("button", name="创建类别").click()
    expect(admin.locator("#tags-flash")).to_have_text("已创建类别：要素保障")
    expect(admin.locator("#tags-in-force")).to_be_visible()
    for name in ("用地", "土地"):
        form = admin.locator("#tag-form")
        form.get_by_label("类别", exact=True).select_option(label="要素保障 / Factor supply")
        form.get_by_label("中文名称", exact=True).fill(name)
        form.get_by_role("button", name="创建标签").click()
        expect(admin.locator("#tags-error")).to_be_hidden()
        expect(admin.locator("#tags-flash")).to_have_text(f"已创建标签：{name}")
    expect(admin.locator("#tags-table tr.tag-row")).to_have_count(2)
    built = time.monotonic() - started

    issue = county.call("POST", "/issues", submit_body(CODE_A), user="enterprise")
    staff = console.watch(browser.new_page(viewport=DESKTOP))
    staff.goto(county.base + f"/ui/workbench/issues/{issue['number']}")
    login(staff, "dispatcher")
    triage = staff.locator("details.action").filter(
        has=staff.locator("summary", has_text="研判分类"))
    triage.locator("summary").click()
    tags_input = triage.locator("#a-triage-tags")  # labelled 标签 *
    tags_input.fill("用电")  # not in the library
    triage.get_by_role("button", name="确认研判").click()
    expect(staff.locator("#action-error")).to_contain_text("“用电”不在本节点的标签库中")
    tags_input.fill("")
    triage.get_by_role("checkbox", name="用地").check()
    expect(tags_input).to_have_value("用地")
    staff.screenshot(path=shots / "tags-triage.png", full_page=True)
    triage.get_by_role("button", name="确认研判").click()
    expect(staff.locator("#flash")).to_contain_text("研判分类")
    expect(staff.locator("#issue .badge")).to_have_text("已研判")
    assert county.call("GET", f"/issues/{issue['id']}", user="leader")["tags"] == ["用地"]

    admin.locator("#tags-refresh").click()
    merge = admin.locator("#merge-form")
    merge.get_by_label("合并此标签", exact=True).select_option(label="土地")
    merge.get_by_label("合并到", exact=True).select_option(label="用地")
    merge.get_by_role("button", name="合并").click()
    expect(admin.locator("#tags-flash")).to_have_text("标签已合并")
    soil = admin.locator("#tags-table tr.tag-row[data-name='土地']")
    expect(soil).to_contain_text("已合并到")
    expect(admin.locator("#changes-table tbody tr").first).to_contain_text("合并")
    admin.screenshot(path=shots / "tags-library.png", full_page=True)
    # the merged tag's name still triages, under the survivor
    library = county.call("GET", "/admin/tags", user="admin")
    merged = [t for c in library["categories"] for t in c["tags"] if t["name_zh"] == "土地"]
    assert merged and merged[0]["merged_into"] is not None
    print(f"\n[tags screen] category and two tags in {built:.1f}s; "
          f"whole flow {time.monotonic() - started:.1f}s")
    assert console.problems == []
