"""The chat in real Chromium (Debian's /usr/bin/chromium driven by Playwright): two
windows talk both ways, a third sees history and presence, reload keeps the nickname,
XSS renders as text, a server restart under a connected page is caught up without
duplicates. Screenshots go to test-artifacts/."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from ...integration.chat.chatclient import ChatClient
from ...integration.chat.conftest import start_node
from .pages import ARTIFACTS, Page, wait_for

pytestmark = pytest.mark.browser

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

