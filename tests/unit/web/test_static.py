"""StaticSite: safe file mapping, types, ETags, cache headers, room fallback."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hubbub.web.static import StaticSite, content_type, etag_matches
from hubbub.web.types import HttpRequest, HttpResponse


@pytest.fixture
def site(tmp_path: Path) -> StaticSite:
    root = tmp_path / "www"
    (root / "vendor").mkdir(parents=True)
    (root / "css").mkdir()
    (root / "index.html").write_text("<p>chat</p>")
    (root / "app.js").write_text("start()")
    (root / "css" / "index.html").write_text("css index")
    (root / "vendor" / "mqtt.min.js").write_text("mqtt")
    (root / ".env").write_text("SECRET")
    (root / ".git").mkdir()
    (root / ".git" / "config").write_text("SECRET")
    (tmp_path / "outside.txt").write_text("SECRET")
    os.symlink(tmp_path / "outside.txt", root / "escape.txt")
    os.symlink(root / "app.js", root / "alias.js")
    return StaticSite(root)


async def _get(site: StaticSite, path: str, method: str = "GET",
               headers: tuple[tuple[str, str], ...] = ()) -> HttpResponse | None:
    return await site.respond(HttpRequest(method, path, path, "", headers))


def _h(r: HttpResponse) -> dict[str, str]:
    return dict(r.headers)


async def test_index_and_types(site: StaticSite) -> None:
    r = await _get(site, "/")
    assert r is not None and r.status == 200 and r.body == b"<p>chat</p>"
    assert _h(r)["content-type"] == "text/html; charset=utf-8"
    assert _h(r)["cache-control"] == "no-cache"
    js = await _get(site, "/app.js")
    assert js is not None and _h(js)["content-type"] == "text/javascript; charset=utf-8"
    assert _h(js)["cache-control"] == "no-cache"  # revalidated: changes with the HTML
    v = await _get(site, "/vendor/mqtt.min.js")
    assert v is not None and "immutable" in _h(v)["cache-control"]
    d = await _get(site, "/css/")
    assert d is not None and d.body == b"css index"


async def test_etag_and_304(site: StaticSite) -> None:
    r = await _get(site, "/app.js")
    assert r is not None
    etag = _h(r)["etag"]
    again = await _get(site, "/app.js", headers=(("if-none-match", f'"x", W/{etag}'),))
    assert again is not None and again.status == 304 and again.body == b""
    assert _h(again)["etag"] == etag
    other = await _get(site, "/app.js", headers=(("if-none-match", '"nope"'),))
    assert other is not None and other.status == 200


async def test_changed_file_gets_new_etag(site: StaticSite) -> None:
    r1 = await _get(site, "/app.js")
    path = site.root / "app.js"
    path.write_text("start(2)")
    os.utime(path, ns=(1, 1))
    r2 = await _get(site, "/app.js")
    assert r1 is not None and r2 is not None
    assert r2.body == b"start(2)" and _h(r1)["etag"] != _h(r2)["etag"]


@pytest.mark.parametrize("path", [
    "/.env", "/.git/config", "/%2eenv", "/../outside.txt", "/%2e%2e/outside.txt",
    "/vendor/..%2f..%2foutside.txt", "/css/../../outside.txt", "/escape.txt", "//etc/passwd",
    "/app.js%00.html", "/..%5coutside.txt", "/%ff", "/missing.js", "/vendor/", "/lobby.js",
])
async def test_nothing_outside_root_or_hidden(site: StaticSite, path: str) -> None:
    assert await _get(site, path) is None


async def test_symlink_inside_root_is_served(site: StaticSite) -> None:
    r = await _get(site, "/alias.js")
    assert r is not None and r.body == b"start()"


@pytest.mark.parametrize("path", ["/lobby", "/my-room", "/caf%C3%A9"])
async def test_room_paths_serve_index(site: StaticSite, path: str) -> None:
    r = await _get(site, path)
    assert r is not None and r.body == b"<p>chat</p>" and _h(r)["cache-control"] == "no-cache"


@pytest.mark.parametrize("path", ["/api", "/mqtt", "/a/b", "/x.y"])
async def test_no_fallback_for_api_mqtt_nested_or_dotted(site: StaticSite, path: str) -> None:
    assert await _get(site, path) is None


async def test_fallback_can_be_disabled(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("i")
    assert await _get(StaticSite(tmp_path, spa_fallback=False), "/lobby") is None


async def test_methods(site: StaticSite) -> None:
    post = await _get(site, "/app.js", method="POST")
    assert post is not None and post.status == 405 and _h(post)["allow"] == "GET, HEAD"
    head = await _get(site, "/app.js", method="HEAD")
    # The connection drops the body of a HEAD answer on the wire, after Content-Length.
    assert head is not None and head.status == 200 and head.body == b"start()"


async def test_cache_stays_bounded(tmp_path: Path) -> None:
    for i in range(5):
        (tmp_path / f"f{i}.txt").write_bytes(b"x" * 100)
    site = StaticSite(tmp_path, max_cache_bytes=250)
    for i in range(5):
        r = await _get(site, f"/f{i}.txt")
        assert r is not None and len(r.body) == 100
    assert site._cached_bytes <= 250


def test_content_type_and_etag_helpers() -> None:
    assert content_type("a.css") == "text/css; charset=utf-8"
    assert content_type("a.unknownext") == "application/octet-stream"
    assert etag_matches("*", '"a"') and etag_matches('W/"a"', '"a"')
    assert not etag_matches('"b"', '"a"')
