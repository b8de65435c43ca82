"""The exported page in real Chromium, on "AWS" made of local fakes: the site as
``hubbub export`` writes it (config.json filled in), served with the export's CSP; a
Cognito identity endpoint that checks request shapes (tests/unit/aws/fake_cognito.py); and
a small IoT Core over TLS WebSocket that checks the SigV4 URL against botocore, holds the
client to the *exported* guest policy with hubbub's policy engine, and answers like the
chat's rules (welcome on join, republish to the room). Nothing here reaches AWS."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import json
import ssl
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from hubbub.app import load_app
from hubbub.auth.documents import PolicyDocument
from hubbub.auth.policy import Authorizer, PolicyEngine
from hubbub.config import Config
from hubbub.export.identity import content_security_policy
from hubbub.export.sam import build_template
from hubbub.export_cli import export_command
from hubbub.mqtt.codec import encode
from hubbub.mqtt.decoder import Decoder
from hubbub.mqtt.packets import (
    Connack,
    Connect,
    Disconnect,
    Pingreq,
    Pingresp,
    Puback,
    Publish,
    Suback,
    Subscribe,
)
from hubbub.mqtt.topics import filter_matches
from tests.unit.aws.fake_cognito import POOL, FakeCognito, fake_cognito
from tests.unit.aws.presign import botocore_url

from .pages import Page, wait_for

wsproto = pytest.importorskip("wsproto")
pytest.importorskip("cryptography")
from wsproto import ConnectionType, WSConnection  # noqa: E402
from wsproto.events import (  # noqa: E402
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    RejectConnection,
    Request,
)

REGION = "us-east-1"
NOT_AUTHORIZED = 0x87
SESSION_TAKEN_OVER = 0x8E
HISTORY = {"type": "message", "id": "0001-a", "room": "lobby", "user": "earlier",
           "text": "said before you came", "clientId": "us-east-1:someone", "timestamp": 1}


def self_signed(folder: Path) -> ssl.SSLContext:
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False)
            .sign(key, hashes.SHA256()))
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    return ctx


@dataclass
class Client:
    client_id: str
    access_key: str
    auth: Authorizer
    send: Any
    close: Any
    filters: set[str] = field(default_factory=set)


@dataclass
class FakeIot:
    """IoT Core's part of the chat, small: SigV4 check, the guest policy, two rules."""

    cognito: FakeCognito
    policy: PolicyEngine
    port: int = 0
    connects: list[Client] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    clients: list[Client] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def issued(self) -> dict[str, tuple[str, str, str]]:
        """access key -> (secret, session token, identity id), as the fake Cognito issued."""
        out = {}
        for n, r in enumerate(self.cognito.requests):
            if r.target == "GetCredentialsForIdentity":
                out[f"ASIAFAKE{n:012d}"] = (f"secret/{n}+key", f"token+/={n}",
                                            r.body["IdentityId"])
        return out

    def check_url(self, host: str, target: str) -> tuple[str, str] | str:
        """(identity id, access key) of a correctly signed URL, or what is wrong with it."""
        params = dict(parse_qsl(urlsplit(target).query))
        key, _, scope = params.get("X-Amz-Credential", "").partition("/")
        if key not in self.issued():
            return f"unknown access key {key!r}"
        secret, token, identity = self.issued()[key]
        try:
            when = dt.datetime.strptime(params["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(
                tzinfo=dt.UTC)
        except (KeyError, ValueError):
            return f"bad X-Amz-Date {params.get('X-Amz-Date')!r}"
        if abs(when.timestamp() - time.time()) > 600:  # page clocks may run ahead in a test
            return f"X-Amz-Date {params['X-Amz-Date']} is too far from now"
        expected = botocore_url(host, REGION, key, secret, token, when,
                                int(params["X-Amz-Expires"]))
        if f"wss://{host}{target}" != expected:
            return f"signature mismatch:\n{target}\n{expected}"
        return identity, key

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        ws = WSConnection(ConnectionType.SERVER)
        decoder = Decoder(version=5)
        client: Client | None = None
        identity = key = ""

        def send(packet: Any) -> None:
            writer.write(ws.send(BytesMessage(data=encode(packet, 5))))

        try:
            while data := await reader.read(65536):
                ws.receive_data(data)
                for event in ws.events():
                    if isinstance(event, Request):
                        checked = self.check_url(event.host, event.target)
                        if isinstance(checked, str) or "mqtt" not in event.subprotocols:
                            self.refused.append(str(checked))
                            writer.write(ws.send(RejectConnection(status_code=403)))
                            self.changed.set()
                            return
                        identity, key = checked
                        writer.write(ws.send(AcceptConnection(subprotocol="mqtt")))
                    elif isinstance(event, Ping):
                        writer.write(ws.send(event.response()))
                    elif isinstance(event, CloseConnection):
                        writer.write(ws.send(event.response()))
                        return
                    elif isinstance(event, BytesMessage):
                        decoder.feed(bytes(event.data))
                        while (packet := decoder.next_packet()) is not None:
                            client = self.on_packet(packet, client, identity, key, send,
                                                    writer.close)
                            if client is None:
                                return
                await writer.drain()
        finally:
            if client in self.clients:
                self.clients.remove(client)
            writer.close()
            self.changed.set()

    def on_packet(self, packet: Any, client: Client | None, identity: str, key: str,
                  send: Any, close: Any) -> Client | None:
        match packet:
            case Connect(client_id=cid):
                auth = self.policy.authorizer(client_id=cid, identity_id=identity,
                                              policy_names=self.policy.names)
                if not auth.can_connect():
                    self.refused.append(f"connect as {cid!r} with identity {identity!r}")
                    send(Connack(reason_code=NOT_AUTHORIZED))
                    return None
                for old in [c for c in self.clients if c.client_id == cid]:
                    # IoT Core: the newer connection wins, the older is told why
                    old.send(Disconnect(reason_code=SESSION_TAKEN_OVER))
                    old.close()
                    self.clients.remove(old)
                client = Client(cid, key, auth, send, close)
                self.connects.append(client)
                self.clients.append(client)
                send(Connack())
            case Subscribe(packet_id=pid, subscriptions=subs) if client is not None:
                codes = []
                for s in subs:
                    ok = client.auth.can_subscribe(s.filter)
                    codes.append(1 if ok else NOT_AUTHORIZED)
                    if ok:
                        client.filters.add(s.filter)
                send(Suback(pid, tuple(codes)))
            case Publish(topic=topic, payload=payload, qos=qos, packet_id=pid) \
                    if client is not None:
                if not client.auth.can_publish(topic):  # IoT Core disconnects
                    self.refused.append(f"publish to {topic!r}")
                    return None
                if qos:
                    send(Puback(pid or 0))
                self.rules(client, topic, json.loads(payload))
            case Pingreq():
                send(Pingresp())
            case Disconnect():
                return None
        self.changed.set()
        return client

    def rules(self, client: Client, topic: str, msg: dict[str, Any]) -> None:
        # The chat's ChatToFunction (a join gets a welcome) and ChatRepublish rules.
        if topic != "chat/out":
            return
        if msg.get("type") == "join":
            self.deliver(f"chat/in/{client.client_id}", {
                "type": "welcome", "history": {"messages": [HISTORY], "before": None},
                "presence": [{"clientId": client.client_id, "user": msg.get("user")}]})
        elif isinstance(msg.get("message"), dict):
            now = int(time.time() * 1000)
            self.deliver(f"chat/pub/{msg['room']}", {
                "type": "message", "id": f"{now}-x", "room": msg["room"],
                "user": msg["message"]["user"], "text": msg["message"]["text"],
                "clientId": client.client_id, "timestamp": now})

    def deliver(self, topic: str, msg: dict[str, Any]) -> None:
        for c in self.clients:
            if c.auth.can_receive(topic) and any(filter_matches(f, topic) for f in c.filters):
                c.send(Publish(topic, json.dumps(msg).encode(), 0))

    async def drop_all(self) -> None:
        for c in list(self.clients):
            c.close()


def csp_for(cognito_url: str, iot_port: int) -> str:
    # The export's CSP, with connect-src pointing at the fakes instead of AWS.
    csp = content_security_policy().replace("${AWS::Region}", REGION)
    directives = [d if not d.startswith("connect-src") else
                  f"connect-src 'self' {cognito_url.rstrip('/')} wss://localhost:{iot_port}"
                  for d in csp.split("; ")]
    return "; ".join(directives)


TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript", ".css": "text/css",
         ".json": "application/json", ".svg": "image/svg+xml", ".md": "text/plain"}


def serve_site(site: Path, csp: str) -> ThreadingHTTPServer:
    """The exported site/ as S3 + CloudFront serve it: files, the page for room paths, and
    the response headers policy's CSP."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

        def do_GET(self) -> None:
            path = urlsplit(self.path).path
            if path.startswith("/api/"):  # the HTTP API's history route: nothing newer
                self.answer(200, "application/json", b'{"messages": [], "more": false}')
                return
            name = path.lstrip("/") if "." in path.rsplit("/", 1)[-1] else "index.html"
            file = (site / name).resolve()
            if not file.is_relative_to(site.resolve()) or not file.is_file():
                self.send_error(404)
                return
            self.answer(200, TYPES.get(file.suffix, "application/octet-stream"),
                        file.read_bytes())

        def answer(self, status: int, ctype: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("content-type", ctype)
            self.send_header("content-security-policy", csp)
            self.send_header("x-content-type-options", "nosniff")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return ThreadingHTTPServer(("127.0.0.1", 0), Handler)


@dataclass
class World:
    url: str
    cognito: FakeCognito
    iot: FakeIot


@pytest.fixture
def exported_site(tmp_path: Path) -> Path:
    assert export_command(Config(), "sam", tmp_path / "deploy" / "template.json",
                          stdout=io.StringIO()) == 0
    return tmp_path / "deploy" / "site"


@pytest.fixture
def cognito() -> Iterator[FakeCognito]:
    with fake_cognito() as fake:
        fake.expiration = time.time() + 3600
        yield fake
        assert fake.problems == []


@pytest.fixture
async def world(exported_site: Path, cognito: FakeCognito, tmp_path: Path
                ) -> AsyncIterator[World]:
    template = build_template(load_app())
    doc = template["Resources"]["GuestRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    iot = FakeIot(cognito, PolicyEngine({"guest": PolicyDocument.parse("guest", doc)}))
    server = await asyncio.start_server(iot.handle, "127.0.0.1", 0, ssl=self_signed(tmp_path))
    iot.port = server.sockets[0].getsockname()[1]
    (exported_site / "config.json").write_text(json.dumps({
        "provider": "aws", "region": REGION, "identityPoolId": POOL,
        "iotEndpoint": f"localhost:{iot.port}", "cognitoEndpoint": cognito.url}))
    site = serve_site(exported_site, csp_for(cognito.url, iot.port))
    thread = threading.Thread(target=site.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield World(f"http://127.0.0.1:{site.server_address[1]}/lobby", cognito, iot)
    finally:
        site.shutdown()
        site.server_close()
        thread.join()
        server.close()
        await iot.drop_all()
        await server.wait_closed()


async def open_page(browser: Any, url: str, clock_at: float | None = None,
                    identity: str | None = None) -> Page:
    """A page in its own context; ``clock_at`` (seconds) puts the page on Playwright's
    clock, which moves only when the test says; ``identity`` starts it with that identity
    in sessionStorage, as a duplicated tab does."""
    # the fake IoT endpoint's certificate is self-signed: a context option, not a flag
    ctx = await browser.new_context(ignore_https_errors=True)
    if identity is not None:
        await ctx.add_init_script(
            f"sessionStorage.setItem('hubbub.aws.identity', {json.dumps(identity)})")
    page = await ctx.new_page()
    if clock_at is not None:
        await page.clock.install(time=clock_at)
    p = Page(page)
    await page.goto(url)
    return p


async def until(cond: Any, timeout: float = 15) -> None:
    async def check() -> bool:
        return bool(cond())
    await wait_for(check, timeout)


async def test_the_exported_page_talks_to_aws(browser: Any, world: World) -> None:
    p = await open_page(browser, world.url)
    await p.set_name("alice")
    await p.online()
    assert [r.target for r in world.cognito.requests] == ["GetId", "GetCredentialsForIdentity"]
    identity = world.cognito.requests[1].body["IdentityId"]
    # connected as its identity id, the only client id the exported policy allows
    (client,) = world.iot.connects
    assert client.client_id == identity
    await until(lambda: len(client.filters) == 2)
    assert client.filters == {f"chat/in/{identity}", "chat/pub/lobby"}
    await p.wait_text("said before you came")  # the welcome came through its inbox
    await p.say("hello from the browser on aws")
    await p.wait_text("hello from the browser on aws")
    assert await p.page.locator("#messages li.mine").count() == 1
    assert world.iot.refused == []
    assert p.problems == [], "\n".join(p.problems)  # no CSP violation, no error


async def test_a_reload_keeps_the_identity_a_new_tab_gets_another(browser: Any,
                                                                  world: World) -> None:
    p = await open_page(browser, world.url)
    await p.online()
    await p.page.reload()
    await p.online()
    other = await open_page(browser, world.url)
    await other.online()
    ids = [c.client_id for c in world.iot.connects]
    assert ids[0] == ids[1] != ids[2]  # sessionStorage: per tab, kept across a reload
    assert [r.target for r in world.cognito.requests].count("GetId") == 2
    assert world.iot.refused == []
    assert p.problems == [] and other.problems == []


async def test_a_duplicated_tab_does_not_flap(browser: Any, world: World) -> None:
    # A duplicated tab copies sessionStorage: two tabs, one identity, one client id. The
    # tab pushed out (DISCONNECT 0x8E) takes a new identity instead of pushing back.
    first = await open_page(browser, world.url)
    await first.online()
    shared = world.iot.connects[0].client_id
    copy = await open_page(browser, world.url, identity=shared)
    await copy.online()
    await until(lambda: len(world.iot.connects) == 3)
    await first.online()
    ids = [c.client_id for c in world.iot.connects]
    assert ids[:2] == [shared, shared] and ids[2] != shared
    assert sorted(c.client_id for c in world.iot.clients) == sorted([shared, ids[2]])
    gets = [r.target for r in world.cognito.requests]
    assert gets.count("GetId") == 2  # the first tab's, then its new one after the takeover
    assert world.iot.refused == []
    assert first.problems == [] and copy.problems == []


async def test_credentials_are_renewed_and_a_reconnect_signs_with_the_new_ones(
        browser: Any, world: World) -> None:
    now = time.time()
    world.cognito.expiration = now + 70  # renewal due after 80 % of that (app.js)
    p = await open_page(browser, world.url, clock_at=now)
    await p.online()
    first = world.iot.connects[0]
    world.cognito.expiration = now + 3600
    await p.page.clock.fast_forward(57_000)
    await until(lambda: len(world.cognito.requests) == 3)
    renew = world.cognito.requests[2]
    assert (renew.target, renew.body) == ("GetCredentialsForIdentity",
                                          {"IdentityId": first.client_id})
    await world.iot.drop_all()  # IoT Core goes away; the page reconnects after a backoff
    await p.page.wait_for_selector('#status[data-state="reconnecting"]', timeout=15000)
    await p.page.clock.fast_forward(2_000)
    await until(lambda: len(world.iot.connects) == 2)
    second = world.iot.connects[1]
    assert second.client_id == first.client_id
    assert second.access_key != first.access_key
    assert second.access_key == "ASIAFAKE000000000002"  # issued by the renewal
    assert len(world.cognito.requests) == 3  # the renewed credentials were used as they are
    await p.online()
    assert world.iot.refused == []


async def test_a_placeholder_config_says_so(browser: Any, exported_site: Path) -> None:
    # As exported, before site-config: the page must say it is not configured.
    site = serve_site(exported_site, csp_for("http://127.0.0.1:9", 9))
    thread = threading.Thread(target=site.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        p = await open_page(browser, f"http://127.0.0.1:{site.server_address[1]}/lobby")
        await p.page.wait_for_selector('#status[data-state="offline"]', timeout=15000)
        assert "not filled in" in await p.page.locator("#notice").inner_text()
        assert p.problems == []
    finally:
        site.shutdown()
        site.server_close()
        thread.join()

