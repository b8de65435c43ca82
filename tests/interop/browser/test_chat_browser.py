"""The chat in real Chromium (Debian's /usr/bin/chromium driven by Playwright): two
windows talk both ways, a third sees history and presence, reload keeps the nickname,
XSS renders as text, a server restart under a connected page is caught up without
duplicates. Screenshots go to test-artifacts/."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from ...integration.chat.chatclient import ChatClient
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
    """One chat window, with a record of CSP violations and dialogs (XSS would open one)."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.problems: list[str] = []
        page.on("dialog", lambda d: (self.problems.append(f"dialog: {d.message}"),
                                     asyncio.ensure_future(d.dismiss())))
        page.on("console", lambda m: self.problems.append(m.text)
                if "Content Security Policy" in m.text or m.type == "error" else None)
        page.on("pageerror", lambda e: self.problems.append(f"pageerror: {e}"))

    @classmethod
    async def open(cls, browser: Any, url: str, name: str | None = None) -> Page:
        ctx = await browser.new_context(viewport={"width": 1000, "height": 700})
        p = cls(await ctx.new_page())
        await p.page.goto(url)
        if name is not None:
            await p.set_name(name)
        await p.online()
        return p

    async def online(self) -> None:
        await self.page.wait_for_selector('#status[data-state="online"]', timeout=15000)

    async def set_name(self, name: str) -> None:
        box = self.page.get_by_label("Your name", exact=True)
        await box.fill(name)
        await box.dispatch_event("change")

    async def say(self, text: str) -> None:
        box = self.page.get_by_label("Message", exact=True)
        await box.fill(text)
        await box.press("Enter")

    async def wait_text(self, text: str) -> None:
        await self.page.locator("#messages .text", has_text=text).first.wait_for(timeout=15000)

    async def texts(self) -> list[str]:
        return await self.page.locator("#messages li[data-id] .text").all_inner_texts()

    async def people(self) -> set[str]:
        items = await self.page.locator("#presence li").all_inner_texts()
        return {i.removesuffix(" (you)") for i in items}


async def wait_for(cond: Any, timeout: float = 15) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await cond():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.1)


async def test_two_windows_talk_third_sees_history_and_presence(
        tmp_path: Path, browser: Any) -> None:
    node = await start_node(tmp_path / "data")
    try:
        url = f"{node.url}/lobby"
        a = await Page.open(browser, url, "alice")
        b = await Page.open(browser, url, "bob")
        await a.say("hello from alice")
        await b.wait_text("hello from alice")
        await b.say("hi alice, bob here\nsecond line")
        await a.wait_text("bob here")
        c = await Page.open(browser, url, "carol")
        await c.wait_text("hello from alice")
        assert await c.texts() == ["hello from alice", "hi alice, bob here\nsecond line"]
        await wait_for(lambda: _has_people(c, {"alice", "bob", "carol"}))
        await wait_for(lambda: _has_people(a, {"alice", "bob", "carol"}))
        mine = await a.page.locator("#messages li.mine").count()
        assert mine == 1
        ARTIFACTS.mkdir(exist_ok=True)
        await c.page.screenshot(path=str(ARTIFACTS / "chat-room.png"))
        for p in (a, b, c):
            assert p.problems == [], "\n".join(p.problems)
    finally:
        await node.stop()


async def _has_people(p: Page, names: set[str]) -> bool:
    return await p.people() == names


async def test_reload_keeps_name_and_history_and_xss_is_text(
        tmp_path: Path, browser: Any) -> None:
    node = await start_node(tmp_path / "data")
    try:
        xss_name = "<img src=x onerror=alert(1)>"
        xss_text = "<script>alert(2)</script><img src=x onerror=alert(3)> see https://example.com/a?b=1."
        a = await Page.open(browser, f"{node.url}/xss", xss_name)
        await a.say(xss_text)
        await a.wait_text("see https://example.com")
        assert xss_text in await a.texts()
        assert await a.page.locator("#messages img, #messages script").count() == 0
        link = a.page.locator("#messages a")
        assert await link.get_attribute("href") == "https://example.com/a?b=1"
        assert "noopener" in (await link.get_attribute("rel") or "")
        user = await a.page.locator("#messages .user").first.inner_text()
        assert user == xss_name
        await a.page.reload()
        await a.online()
        assert await a.page.get_by_label("Your name", exact=True).input_value() == xss_name
        await a.wait_text("see https://example.com")
        assert await a.texts() == [xss_text]
        assert a.problems == []
    finally:
        await node.stop()


async def test_restart_under_a_connected_page_catches_up_without_duplicates(
        tmp_path: Path, browser: Any) -> None:
    data = tmp_path / "data"
    node = await start_node(data)
    port = node.http_port
    try:
        a = await Page.open(browser, f"{node.url}/restart", "ann")
        await a.say("before restart")
        await a.wait_text("before restart")
        await node.stop()
        await a.page.wait_for_selector('#status[data-state="reconnecting"]', timeout=15000)
        node = await start_node(data, port=port)
        other = await ChatClient.create(node.url)
        await other.connect()
        await other.join("restart", "zed")
        for i in range(3):
            info = other.say("restart", "zed", f"while away {i}")
            await asyncio.to_thread(info.wait_for_publish, 10)
        other.close()
        await a.online()
        await a.wait_text("while away 2")
        await a.say("after restart")
        await a.wait_text("after restart")
        texts = await a.texts()
        assert texts == ["before restart", "while away 0", "while away 1", "while away 2",
                         "after restart"]
        ids = await a.page.locator("#messages li[data-id]").evaluate_all(
            "els => els.map(e => e.dataset.id)")
        assert len(ids) == len(set(ids))
    finally:
        await node.stop()

