"""Sign in, generate with streamed previews, and see the images; keyboard alone does the same."""

from __future__ import annotations

import base64

import httpx
from playwright.sync_api import expect

from tests.web.conftest import docs_screenshot
from tests.web.console_steps import generate, shoot, sign_in


def test_console_page_is_served_with_a_strict_content_security_policy(server):
    response = httpx.get(f"{server.url}/")
    assert response.status_code == 200
    assert "<title>Gesso console</title>" in response.text
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert httpx.get(f"{server.url}/web/app.js").headers["content-type"].startswith("text/javascript")
    assert httpx.get(f"{server.url}/web/../app.py").status_code == 404


def test_sign_in_shows_tenant_and_role_and_keeps_the_key_out_of_urls(page, server, dev_key, screenshots):
    page.goto(f"{server.url}/")
    shoot(page, screenshots, "sign-in")
    page.get_by_label("API key").fill("gesso-sk-not-a-real-key")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("That key is not valid")).to_be_visible()
    sign_in(page, server.url, dev_key)
    expect(page.locator("#identity")).to_contain_text("webacme")
    expect(page.locator("#identity")).to_contain_text("developer")
    assert dev_key not in page.url
    assert page.evaluate("sessionStorage.getItem('gesso.apiKey')") == dev_key
    assert page.evaluate("localStorage.getItem('gesso.apiKey')") is None


def test_generate_streams_previews_and_shows_the_images(page, server, dev_key, screenshots):
    sign_in(page, server.url, dev_key)
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    generate(page, "a red circle on white", count=2, seed=41)
    results = page.locator("li.result")
    expect(results.nth(0)).to_contain_text("seed 41")
    expect(results.nth(1)).to_contain_text("seed 42")
    src = results.nth(0).locator("img").get_attribute("src")
    png = base64.b64decode(src.split(",", 1)[1])
    assert png.startswith(b"\x89PNG")
    assert page.locator("progress").evaluate("p => p.value === p.max")
    assert not any(dev_key in url for url in requests)
    shoot(page, screenshots, "create")
    docs_screenshot(page, "console-create.png")


def test_use_as_input_runs_a_masked_edit_and_variations(page, server, dev_key):
    sign_in(page, server.url, dev_key)
    generate(page, "a blue square", count=1, seed=7)
    page.get_by_role("button", name="Use as input").click()
    canvas = page.locator("canvas.mask-canvas")
    box = canvas.bounding_box()
    page.mouse.move(box["x"] + 20, box["y"] + 20)
    page.mouse.down()
    page.mouse.move(box["x"] + 120, box["y"] + 120)
    page.mouse.up()
    with page.expect_response("**/v1/images/edits") as edit:
        page.get_by_role("button", name="Edit masked area").click()
    assert edit.value.status == 200
    expect(page.locator("li.result[data-done=true]")).to_have_count(1, timeout=60_000)
    page.get_by_role("button", name="Use as input").click()
    with page.expect_response("**/v1/images/variations") as variation:
        page.get_by_role("button", name="Make variations").click()
    assert variation.value.status == 200
    expect(page.locator("li.result[data-done=true]")).to_have_count(1, timeout=60_000)


def test_a_bad_value_is_shown_beside_its_field(page, server, dev_key):
    sign_in(page, server.url, dev_key)
    page.get_by_label("Prompt", exact=True).fill("a circle")
    page.get_by_label("Size").select_option("512x512")
    page.get_by_role("button", name="Generate").click()
    expect(page.locator("#" + page.get_by_label("Size").get_attribute("id") + "-error")).to_contain_text("size")


def test_keyboard_alone_signs_in_and_generates(page, server, dev_key):
    page.goto(f"{server.url}/")
    expect(page.get_by_label("API key")).to_be_focused()
    page.keyboard.type(dev_key)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Create")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_label("Prompt", exact=True)).to_be_focused()
    page.keyboard.type("a green circle")
    # Tab through the form to the Generate button, checking every stop is visibly focused
    for _ in range(20):
        page.keyboard.press("Tab")
        outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
        assert outline != "none", page.evaluate("document.activeElement.outerHTML")
        if page.evaluate("document.activeElement.textContent") == "Generate":
            break
    page.keyboard.press("Enter")
    expect(page.locator("li.result[data-done=true]")).to_have_count(2, timeout=60_000)
