"""The web chat in Debian's headless Chromium (driven by Playwright, never a downloaded
browser) against a live `opscopilot serve` on the offline model: sign in, ask, watch the
answer stream in, see tool activity, approve a change with a button, reload and keep the
thread. Text from the data (`<script>` in a reason) stays text."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from opscopilot.store.engine import Database
from opscopilot.store.models import Site
from tests.agent_support.factories import add_item
from tests.e2e.procs import base_env, serving

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PAYLOAD = "<script>window.__pwned = 1</script>"

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs Debian's chromium: apt-get install -y chromium"
)


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="oc-e2e-web-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
async def operator_key(db: Database, workdir: Path) -> str:
    from opscopilot.access.service import create_key

    await add_item(db, "ITEM-001", name="Gasket")
    await add_item(db, "ITEM-002", name="Bearing", on_hand=100, daily_demand=5.0)
    async with db.transaction() as session:
        policy = {"erp_export": {"mode": "file", "dir": str(workdir / "erp")}}
        session.add(Site(code="main", name="Main plant", policy=policy))
        created = await create_key(session, user="web-operator", role="operator")
    return created.key


@pytest.fixture(scope="module")
def base_url(migrated: str, operator_key: str, workdir: Path) -> Iterator[str]:
    env = base_env(OPSCOPILOT_DB__URL=migrated, OPSCOPILOT_API__RATE_LIMIT_CHAT_PER_MIN="0")
    with serving(env, log=workdir / "serve.log") as (port, _):
        yield f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def browser(base_url: str) -> Iterator[Browser]:
    # After the async fixtures: Playwright's sync API runs its own loop in this thread.
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield browser
        browser.close()


def ask(page: Page, question: str) -> None:
    expect(page.locator("#send")).to_be_enabled(timeout=60_000)  # the last answer has ended
    page.fill("#question", question)
    page.press("#question", "Enter")


def test_sign_in_ask_approve_and_keep_the_thread(
    browser: Browser, base_url: str, operator_key: str, workdir: Path
) -> None:
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    response = page.goto(base_url + "/")
    assert response is not None
    assert "script-src 'self'" in response.headers["content-security-policy"]

    page.fill("#key", "ocp_wrong")
    page.click("#signin-button")
    expect(page.locator("#signin-error")).to_contain_text("invalid")
    page.fill("#key", operator_key)
    page.click("#signin-button")
    expect(page.locator("#question")).to_be_visible()
    assert operator_key not in page.url

    # A question the offline model answers from a tool, whose data carries markup.
    ask(page, f"draft a purchase request for 5 of ITEM-001 because {PAYLOAD}")
    first = page.locator(".msg.assistant").nth(0)
    expect(first.locator(".answer")).to_contain_text("I drafted purchase request", timeout=60_000)
    expect(first.locator(".tool.ok .tool-name")).to_have_text("draft_action_request")
    expect(first.locator(".answer")).to_contain_text(PAYLOAD)
    assert first.locator(".answer script, .answer img").count() == 0
    assert page.evaluate("window.__pwned") is None

    # A write asks for approval; the button resumes the thread and streams the result.
    ask(page, "submit the last action request")
    second = page.locator(".msg.assistant").nth(1)
    expect(second.locator(".approval")).to_contain_text("Approval needed", timeout=60_000)
    second.locator("button.approve").click()
    resumed = page.locator(".msg.assistant").nth(2)
    expect(resumed.locator(".tool.ok")).to_have_count(1, timeout=60_000)
    expect(second.locator("button.approve")).to_be_disabled()
    assert list((workdir / "erp").glob("action-*.json"))  # exported, once
    assert len(list((workdir / "erp").glob("action-*.json"))) == 1

    thread_id = page.evaluate("localStorage.getItem('opscopilot.thread')")
    page.reload()
    expect(page.locator(".msg.user")).to_have_count(2)
    expect(page.locator(".msg.assistant .answer").first).to_contain_text(PAYLOAD)
    assert page.evaluate("localStorage.getItem('opscopilot.thread')") == thread_id
    assert page.evaluate("sessionStorage.getItem('opscopilot.key')") == operator_key
    assert page.locator(".approval button.approve:enabled").count() == 0  # decided

    page.click("#new-thread")
    expect(page.locator(".msg")).to_have_count(0)
    page.click("#sign-out")
    expect(page.locator("#key")).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('opscopilot.key')") is None
    assert errors == []


def test_a_forecast_shows_its_chart_inline(
    browser: Browser, base_url: str, operator_key: str
) -> None:
    page = browser.new_page()
    page.goto(base_url + "/")
    page.evaluate("localStorage.removeItem('opscopilot.thread')")
    page.fill("#key", operator_key)
    page.click("#signin-button")
    ask(page, "forecast weekly demand for ITEM-002")
    chart = page.locator(".msg.assistant img.chart")
    expect(chart).to_have_count(1, timeout=90_000)
    # Fetched with the key (an <img> cannot send one) and shown from a blob: URL.
    assert chart.get_attribute("src", timeout=5_000).startswith("blob:")  # type: ignore[union-attr]
    page.wait_for_function("() => document.querySelector('img.chart').naturalWidth > 0")


MARKDOWN = """# Stock
**ITEM-001** has *42* units, see `get_inventory`.

| sku | on hand |
|---|---|
| ITEM-001 | <b>42</b> |

- one
- [two](https://example.com/a?b=1)
1. [bad](javascript:alert(1)) and [local](/api/v1/items/ITEM-001)

> quoted <img src=x onerror="window.__pwned = 2">

```html
<script>window.__pwned = 3</script>
```
<a href="javascript:alert(1)">raw</a> [proto](//evil.example/x)
"""


def test_the_markdown_renderer_builds_only_safe_nodes(browser: Browser, base_url: str) -> None:
    page = browser.new_page()
    page.goto(base_url + "/")
    out = page.evaluate(
        """async (source) => {
            const { renderMarkdown } = await import('/static/markdown.js');
            const root = document.createElement('div');
            root.append(renderMarkdown(source));
            document.body.append(root);
            const all = [...root.querySelectorAll('*')];
            return {
                tags: [...new Set(all.map((e) => e.tagName.toLowerCase()))].sort(),
                attributes: [...new Set(all.flatMap((e) => e.getAttributeNames()))].sort(),
                links: [...root.querySelectorAll('a')].map((a) => a.getAttribute('href')),
                text: root.textContent,
                cell: root.querySelector('td:last-child').textContent,
            };
        }""",
        MARKDOWN,
    )
    allowed = {
        "h3",
        "strong",
        "em",
        "code",
        "p",
        "div",
        "table",
        "thead",
        "tbody",
        "tr",
        "th",
        "td",
        "ul",
        "ol",
        "li",
        "a",
        "blockquote",
        "pre",
        "br",
    }
    assert set(out["tags"]) <= allowed
    assert set(out["attributes"]) <= {"class", "href", "rel", "target", "data-lang"}
    assert out["links"] == ["https://example.com/a?b=1", "/api/v1/items/ITEM-001"]
    assert out["cell"] == "<b>42</b>"
    for raw in (
        '<img src=x onerror="window.__pwned = 2">',
        "<script>window.__pwned = 3</script>",
        '<a href="javascript:alert(1)">raw</a>',
    ):
        assert raw in out["text"]
    assert page.evaluate("window.__pwned") is None
