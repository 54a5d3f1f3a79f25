"""Library, datasets, fine-tunes, audit and admin pages; tenant isolation; a viewer's read-only view."""

from __future__ import annotations

import io
import json
import re
import zipfile

import httpx
from playwright.sync_api import expect

from tests.conftest import make_shape_image
from tests.web.conftest import docs_screenshot
from tests.web.console_steps import generate, shoot, sign_in

WRITE_BUTTONS = re.compile(
    r"^(Generate|Upload dataset|Delete|Start fine-tune|Cancel fine-tune|Pause|Resume|Approve|Use as input"
    r"|Edit masked area|Make variations|Create key|Revoke|Save policy)( .+)?$"
)


def dataset_zip(bad: bool) -> bytes:
    buffer = io.BytesIO()
    rows = []
    with zipfile.ZipFile(buffer, "w") as archive:
        for index, colour in enumerate(["red", "green", "blue", "orange"]):
            image = io.BytesIO()
            make_shape_image(colour, "circle").save(image, format="PNG")
            name = f"{colour}.png"
            archive.writestr(name, image.getvalue())
            rows.append({"file_name": name, "text": f"a {colour} circle"})
        if bad:
            archive.writestr("broken-photo.png", b"this is not a picture")
            rows.append({"file_name": "broken-photo.png", "text": "a broken picture"})
        archive.writestr("metadata.jsonl", "\n".join(json.dumps(row) for row in rows) + "\n")
    return buffer.getvalue()


def test_library_finds_images_by_prompt_and_shows_parameters(page, server, dev_key, screenshots):
    sign_in(page, server.url, dev_key)
    generate(page, "a lighthouse at dusk", count=1, seed=5)
    page.get_by_role("link", name="Library").click()
    expect(page.get_by_role("heading", name="Library")).to_be_visible()
    page.get_by_label("Search prompts").fill("lighthouse")
    page.get_by_role("button", name="Search").click()
    items = page.locator("li.library-item")
    expect(items).to_have_count(1)
    expect(items.first).to_contain_text("a lighthouse at dusk")
    expect(items.first.locator("dd").first).to_have_text("gesso-base")
    expect(items.first).to_contain_text("5")
    expect(items.first.locator(".badge")).not_to_have_text("Provenance: checking…", timeout=30_000)
    assert items.first.locator("img").evaluate("img => img.complete && img.naturalWidth > 0")
    page.get_by_label("Search prompts").fill("no such words anywhere")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_text("No images match.")).to_be_visible()
    page.get_by_label("Search prompts").fill("")
    page.get_by_role("button", name="Search").click()
    expect(items.first).to_be_visible()
    shoot(page, screenshots, "library")
    docs_screenshot(page, "console-library.png")


def test_another_tenants_objects_appear_nowhere(page, server, dev_key, other_key):
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {dev_key}"}, timeout=60) as http:
        assert http.post("/v1/images/generations", json={"prompt": "acme secret blueprint", "n": 1}).status_code == 200
    sign_in(page, server.url, other_key)
    expect(page.locator("#identity")).to_contain_text("webglobex")
    for name in ("Library", "Datasets", "Fine-tunes"):
        page.get_by_role("link", name=name).click()
        expect(page.get_by_role("heading", name=name, exact=True)).to_be_visible()
        page.wait_for_load_state("networkidle")
        assert "acme secret blueprint" not in page.content()
        assert "webacme" not in page.locator("main").inner_text()
    page.get_by_role("link", name="Library").click()
    expect(page.get_by_text("No images match.")).to_be_visible()


def test_a_viewer_finds_no_write_controls(page, server, dev_key, viewer_key, screenshots):
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {dev_key}"}, timeout=60) as http:
        assert http.post("/v1/images/generations", json={"prompt": "for the viewer", "n": 1}).status_code == 200
        files = {"file": ("viewer-sees.zip", dataset_zip(bad=False), "application/zip")}  # a row a writer could delete
        assert http.post("/v1/files", data={"purpose": "fine-tune"}, files=files).status_code == 200
    sign_in(page, server.url, viewer_key)
    expect(page.locator("#identity")).to_contain_text("viewer")
    expect(page.get_by_role("link", name="Create")).to_be_hidden()
    expect(page.get_by_role("link", name="Admin")).to_be_hidden()
    expect(page.get_by_role("heading", name="Library")).to_be_visible()
    expect(page.locator("li.library-item").first).to_be_visible()
    for name in ("Library", "Datasets", "Fine-tunes"):
        page.get_by_role("link", name=name).click()
        expect(page.get_by_role("heading", name=name, exact=True)).to_be_visible()
        page.wait_for_load_state("networkidle")
        if name == "Datasets":
            expect(page.get_by_role("button", name="Details of viewer-sees.zip")).to_be_visible()
        assert page.get_by_role("button", name=WRITE_BUTTONS).count() == 0, name
        assert page.locator("input[type=file]").count() == 0
    page.goto(f"{server.url}/#/create")
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
    assert page.get_by_role("button", name="Generate").count() == 0


def test_upload_with_one_bad_image_names_it(page, server, dev_key, tmp_path, screenshots):
    bad = tmp_path / "brand-bad.zip"
    bad.write_bytes(dataset_zip(bad=True))
    good = tmp_path / "brand-good.zip"
    good.write_bytes(dataset_zip(bad=False))
    sign_in(page, server.url, dev_key)
    page.get_by_role("link", name="Datasets").click()
    page.get_by_label("Dataset file").set_input_files(str(bad))
    page.get_by_role("button", name="Upload dataset").click()
    report = page.locator("section.report")
    expect(report).to_contain_text("broken-photo.png")
    shoot(page, screenshots, "datasets-refused")
    page.get_by_label("Dataset file").set_input_files(str(good))
    page.get_by_role("button", name="Upload dataset").click()
    expect(page.locator("table").filter(has_text="brand-good.zip")).to_be_visible()
    expect(report.locator("img.preview")).to_be_visible()
    shoot(page, screenshots, "datasets")
    page.get_by_role("button", name="Delete brand-good.zip").click()
    page.get_by_role("button", name="Delete dataset", exact=True).click()
    expect(page.get_by_role("button", name="Delete brand-good.zip")).to_have_count(0)


def test_start_and_cancel_a_fine_tune(page, server, dev_key, screenshots):
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {dev_key}"}, timeout=60) as http:
        uploaded = http.post("/v1/files", data={"purpose": "fine-tune"},
                             files={"file": ("for-tuning.zip", dataset_zip(bad=False), "application/zip")})
        assert uploaded.status_code == 200, uploaded.text
    sign_in(page, server.url, dev_key)
    page.get_by_role("link", name="Fine-tunes").click()
    page.get_by_label("Dataset").select_option(label="for-tuning.zip")
    page.get_by_label("Epochs").fill("200")
    page.get_by_role("button", name="Start fine-tune").click()
    detail = page.locator("section.job-detail")
    expect(detail).to_be_visible()
    shoot(page, screenshots, "fine-tunes")
    page.get_by_role("button", name="Cancel fine-tune").click()
    expect(detail.locator("dd[data-field=status]")).to_have_text("cancelled", timeout=60_000)
    expect(page.get_by_role("button", name="Cancel fine-tune")).to_have_count(0)


def test_admin_page_saves_the_tenant_policy(page, server, admin_key, screenshots):
    sign_in(page, server.url, admin_key)
    page.get_by_role("link", name="Admin").click()
    expect(page.get_by_role("heading", name="API keys")).to_be_visible()
    expect(page.get_by_role("heading", name="Tenant policy")).to_be_visible()
    shoot(page, screenshots, "admin")
    page.get_by_label("Blocked terms (one per line)").fill("forbidden-word\nother-term")
    page.get_by_label("Fine-tuned models need an admin's approval").check()
    page.get_by_role("button", name="Save policy").click()
    expect(page.get_by_text("Policy saved.")).to_be_visible()
    settings = httpx.get(f"{server.url}/v1/organization/settings", headers={"Authorization": f"Bearer {admin_key}"}).json()
    assert settings["blocked_terms"] == ["forbidden-word", "other-term"]
    assert settings["model_approval_required"] is True
    page.get_by_label("Fine-tuned models need an admin's approval").uncheck()
    page.get_by_role("button", name="Save policy").click()
    expect(page.get_by_label("Fine-tuned models need an admin's approval")).not_to_be_checked()


def test_audit_page_lists_records_and_exports_them(page, server, admin_key, screenshots):
    sign_in(page, server.url, admin_key)
    page.get_by_role("link", name="Audit").click()
    expect(page.get_by_role("heading", name="Audit", exact=True)).to_be_visible()
    expect(page.locator(".chain")).not_to_have_text("Chain: checking…")
    expect(page.locator("table").filter(has_text="Audit records")).to_be_visible()
    shoot(page, screenshots, "audit")
    with page.expect_download() as download:
        page.get_by_role("button", name="Export JSONL").click()
    lines = open(download.value.path()).read().splitlines()
    assert lines and all("action" in json.loads(line) for line in lines)


def test_theme_toggle_switches_and_is_remembered(page, server, dev_key):
    sign_in(page, server.url, dev_key)
    page.emulate_media(color_scheme="light")
    toggle = page.get_by_role("button", name="Dark theme")
    toggle.click()
    expect(toggle).to_have_attribute("aria-pressed", "true")
    dark_bg = page.evaluate("getComputedStyle(document.body).backgroundColor")
    page.reload()
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == dark_bg
    page.get_by_role("button", name="Dark theme").click()
    expect(page.get_by_role("button", name="Dark theme")).to_have_attribute("aria-pressed", "false")
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") != dark_bg
    page.evaluate("localStorage.removeItem('gesso.theme')")
