"""Typing and reactions through the stream, in real Chromium (/usr/bin/chromium driven by
Playwright): window A types and window B shows "alice is typing…", then hides it when it
goes stale; A reacts 👍 to a message and B shows the count under it; a reload shows the
count from history."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from ...integration.chat.conftest import start_node

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-quic", "--no-first-run"]
ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts"

if not shutil.which(CHROMIUM):
    pytest.skip("Debian's chromium is not installed (apt-get install chromium)",
                allow_module_level=True)
async_playwright = pytest.importorskip("playwright.async_api").async_playwright


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            yield b
        finally:
            await b.close()


class Page:
    """One chat window, with a record of CSP violations, dialogs and page errors."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.problems: list[str] = []
        page.on("dialog", lambda d: (self.problems.append(f"dialog: {d.message}"),
                                     asyncio.ensure_future(d.dismiss())))
        page.on("console", lambda m: self.problems.append(m.text)
                if "Content Security Policy" in m.text or m.type == "error" else None)
        page.on("pageerror", lambda e: self.problems.append(f"pageerror: {e}"))

    @classmethod
    async def open(cls, browser: Any, url: str, name: str) -> Page:
        ctx = await browser.new_context(viewport={"width": 1000, "height": 700})
        p = cls(await ctx.new_page())
        await p.page.goto(url)
        box = p.page.get_by_label("Your name", exact=True)
        await box.fill(name)
        await box.dispatch_event("change")
        await p.online()
        return p

    async def online(self) -> None:
        await self.page.wait_for_selector('#status[data-state="online"]', timeout=15000)

    async def say(self, text: str) -> None:
        box = self.page.get_by_label("Message", exact=True)
        await box.fill(text)
        await box.press("Enter")

    def message(self, text: str) -> Any:
        return self.page.locator("#messages li[data-id]", has_text=text).first

    async def typing(self) -> str:
        return str(await self.page.locator("#typing").inner_text())


async def wait_for(cond: Callable[[], Awaitable[bool]], timeout: float = 15) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await cond():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.1)


async def test_typing_shows_and_goes_stale_reactions_count_and_survive_reload(
        tmp_path: Path, browser: Any) -> None:
    node = await start_node(tmp_path / "data", extra={"presenceDebounceSeconds": 0,
                                                      "streamBatchingWindowMs": 100})
    try:
        url = f"{node.url}/den"
        a = await Page.open(browser, url, "alice")
        b = await Page.open(browser, url, "bob")

        # typing: A types (not sent yet), B sees it, then it goes stale (6 s) and hides
        await a.page.get_by_label("Message", exact=True).press_sequentially("hel")
        await b.page.locator("#typing", has_text="alice is typing…").wait_for(timeout=10000)
        assert await a.typing() == ""  # nobody sees their own typing
        await wait_for(lambda: _empty(b), timeout=12)

        # reactions: A reacts 👍 to a message, B sees the count under it
        await a.say("react to this")
        await b.message("react to this").wait_for(timeout=15000)
        li = a.message("react to this")
        await li.hover()
        await li.get_by_role("button", name="React 👍").click()
        count = b.message("react to this").locator(".reaction", has_text="👍 1")
        await count.wait_for(timeout=15000)
        ARTIFACTS.mkdir(exist_ok=True)
        await b.page.screenshot(path=str(ARTIFACTS / "chat-reactions.png"))

        # a reload gets the count from history (the welcome's page)
        await b.page.reload()
        await b.online()
        await count.wait_for(timeout=15000)
        # and it was not stored as a chat message, nor was the typing
        texts = await b.page.locator("#messages li[data-id] .text").all_inner_texts()
        assert texts == ["react to this"]
        for p in (a, b):
            assert p.problems == [], "\n".join(p.problems)
    finally:
        await node.stop()


async def _empty(p: Page) -> bool:
    return await p.typing() == ""
