"""The web client's Cognito calls (aws.js in node) against a fake identity endpoint that
checks the request shapes; boto3's own cognito-identity client sends the same requests and
parses the fake's answers, so the fake speaks the real API. Also: config.json parsing."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from tests.unit.aws.fake_cognito import POOL, FakeCognito, error, fake_cognito
from tests.unit.aws.node import run_js, value

ENDPOINT = "a1b2c3-ats.iot.us-east-1.amazonaws.com"


@pytest.fixture
def cognito() -> Iterator[FakeCognito]:
    with fake_cognito() as fake:
        yield fake
        assert fake.problems == []


def cfg(fake: FakeCognito, **changes: Any) -> dict[str, Any]:
    return {"provider": "aws", "region": "us-east-1", "identityPoolId": POOL,
            "iotEndpoint": ENDPOINT, "cognitoEndpoint": fake.url, **changes}


def test_a_new_guest_gets_an_identity_then_credentials(cognito: FakeCognito) -> None:
    (result,) = run_js(("getIdentityCredentials", [cfg(cognito), None]))
    creds = value(result)
    assert [r.target for r in cognito.requests] == ["GetId", "GetCredentialsForIdentity"]
    get_id, get_creds = cognito.requests
    assert get_id.body == {"IdentityPoolId": POOL}
    assert get_id.headers["x-amz-target"] == "AWSCognitoIdentityService.GetId"
    assert get_creds.headers["x-amz-target"] == \
        "AWSCognitoIdentityService.GetCredentialsForIdentity"
    assert get_creds.body == {"IdentityId": creds["identityId"]}
    assert "authorization" not in get_id.headers  # both calls are unsigned
    assert creds == {"identityId": "us-east-1:00000000-0000-0000-0000-000000000000",
                     "accessKeyId": "ASIAFAKE000000000001", "secretAccessKey": "secret/1+key",
                     "sessionToken": "token+/=1", "expiresAt": 2_000_000_000_500}


def test_a_known_identity_only_asks_for_credentials(cognito: FakeCognito) -> None:
    cognito.identities.add("us-east-1:known")
    (result,) = run_js(("getIdentityCredentials", [cfg(cognito), "us-east-1:known"]))
    assert value(result)["identityId"] == "us-east-1:known"
    assert [r.target for r in cognito.requests] == ["GetCredentialsForIdentity"]


@pytest.mark.parametrize("kind", ["ResourceNotFoundException", "NotAuthorizedException"])
def test_a_forgotten_identity_is_replaced(cognito: FakeCognito, kind: str) -> None:
    cognito.script.append((400, error(kind, "gone"), ""))
    (result,) = run_js(("getIdentityCredentials", [cfg(cognito), "us-east-1:stale"]))
    assert value(result)["identityId"].startswith("us-east-1:00000000")
    assert [r.target for r in cognito.requests] == [
        "GetCredentialsForIdentity", "GetId", "GetCredentialsForIdentity"]


@pytest.mark.parametrize(("answer", "kind", "status", "retry"), [
    ((400, error("TooManyRequestsException", "slow down"), ""), "TooManyRequestsException",
     400, 5),
    ((400, {"__type": "LimitExceededException", "message": "m"}, ""), "LimitExceededException",
     400, 5),
    ((400, error("NotAuthorizedException", "Unauthenticated access is not supported"), ""),
     "NotAuthorizedException", 400, None),
    ((500, None, "<html>oops</html>"), "UnknownError", 500, 5),
    ((503, {"message": "no type"}, ""), "UnknownError", 503, 5),
    ((200, None, "not json"), "BadResponse", 200, None),
    ((200, {"IdentityId": None}, ""), "BadResponse", None, None),
])
def test_errors_are_typed(cognito: FakeCognito, answer: tuple[int, Any, str], kind: str,
                          status: int | None, retry: int | None) -> None:
    cognito.script.append(answer)
    (result,) = run_js(("getIdentityCredentials", [cfg(cognito), None]))
    assert not result["ok"]
    err = result["error"]
    assert (err["name"], err["type"], err["retryAfter"]) == ("AwsError", kind, retry)
    if status is not None:
        assert err["status"] == status
    assert len(cognito.requests) == 1  # nothing retried behind the caller's back


@pytest.mark.parametrize("credentials", [
    {"AccessKeyId": "A", "SecretKey": "S", "Expiration": 1.0},  # no SessionToken
    {"AccessKeyId": "A", "SecretKey": "S", "SessionToken": "T"},  # no Expiration
    {"AccessKeyId": "", "SecretKey": "S", "SessionToken": "T", "Expiration": 1},
])
def test_incomplete_credentials_are_refused(cognito: FakeCognito,
                                            credentials: dict[str, Any]) -> None:
    cognito.identities.add("us-east-1:x")
    cognito.script.append((200, {"IdentityId": "us-east-1:x", "Credentials": credentials}, ""))
    (result,) = run_js(("getIdentityCredentials", [cfg(cognito), "us-east-1:x"]))
    assert result["error"]["type"] == "BadResponse"


def test_credentials_for_another_identity_are_refused(cognito: FakeCognito) -> None:
    cognito.identities.add("us-east-1:x")
    cognito.script.append((200, {"IdentityId": "us-east-1:y", "Credentials": {
        "AccessKeyId": "A", "SecretKey": "S", "SessionToken": "T", "Expiration": 1}}, ""))
    (result,) = run_js(("getIdentityCredentials", [cfg(cognito), "us-east-1:x"]))
    assert "another identity" in result["error"]["message"]


def test_an_unreachable_endpoint_is_a_retryable_error() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    server.server_close()  # nothing listens there now
    (result,) = run_js(("getIdentityCredentials", [
        {"region": "us-east-1", "identityPoolId": POOL, "cognitoEndpoint": url}, None]))
    assert (result["error"]["type"], result["error"]["retryAfter"]) == ("NetworkError", 5)


def test_boto3_sends_the_same_requests_and_parses_the_answers(cognito: FakeCognito) -> None:
    boto3 = pytest.importorskip("boto3")
    from botocore import UNSIGNED
    from botocore.config import Config
    from botocore.exceptions import ClientError

    (result,) = run_js(("getIdentityCredentials", [cfg(cognito), None]))
    js_creds = value(result)
    js_requests = list(cognito.requests)
    cognito.requests.clear()
    cognito.identities.clear()
    client = boto3.client("cognito-identity", region_name="us-east-1", endpoint_url=cognito.url,
                          config=Config(signature_version=UNSIGNED, retries={"max_attempts": 0}))
    identity = client.get_id(IdentityPoolId=POOL)["IdentityId"]
    out = client.get_credentials_for_identity(IdentityId=identity)
    assert [(r.target, r.content_type.split(";")[0], r.body) for r in cognito.requests] == \
        [(r.target, r.content_type.split(";")[0], r.body) for r in js_requests]
    assert [r.headers["x-amz-target"] for r in cognito.requests] == \
        [r.headers["x-amz-target"] for r in js_requests]
    # boto3 reads the same fields from the same answer shape
    c = out["Credentials"]
    assert out["IdentityId"] == js_creds["identityId"]
    assert c["SecretKey"].startswith("secret/")
    assert js_creds["secretAccessKey"].startswith("secret/")
    assert int(c["Expiration"].timestamp() * 1000) == js_creds["expiresAt"]
    # and the same error shape means the same error to both
    with pytest.raises(ClientError) as info:
        client.get_credentials_for_identity(IdentityId="us-east-1:nobody")
    assert info.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_the_provider_remembers_the_identity_and_signs_with_its_credentials(
        cognito: FakeCognito) -> None:
    now = 1_795_000_000_000
    first, again = run_js(("__provider", [cfg(cognito), None, now]),
                          ("__provider", [cfg(cognito), "us-east-1:00000000-0000-0000-0000-"
                                          "000000000000", now]))
    got = value(first)
    assert got["stored"] == got["creds"]["clientId"] == got["creds"]["aws"]["identityId"]
    assert got["creds"]["expiresAt"] == 2_000_000_000_500
    url = urlsplit(got["url"])
    params = dict(parse_qsl(url.query))
    assert url.netloc == ENDPOINT
    assert params["X-Amz-Credential"].startswith(got["creds"]["aws"]["accessKeyId"] + "/")
    assert params["X-Amz-Security-Token"] == got["creds"]["aws"]["sessionToken"]
    assert value(again)["creds"]["clientId"] == got["creds"]["clientId"]  # a reload keeps it
    assert got["kept"] == [False, False, got["stored"]]
    assert got["forgot"] == [True, None]
    assert [r.target for r in cognito.requests] == [
        "GetId", "GetCredentialsForIdentity", "GetCredentialsForIdentity"]


# -- config.json ---------------------------------------------------------------------------

GOOD = {"provider": "aws", "region": "eu-west-1",
        "identityPoolId": "eu-west-1:0a1b2c3d-0000-4000-8000-00000000abcd",
        "iotEndpoint": "abc123-ats.iot.eu-west-1.amazonaws.com"}


@pytest.mark.parametrize(("raw", "expected"), [
    (GOOD, GOOD),
    ({**GOOD, "cognitoEndpoint": "https://cognito-identity-fips.us-east-1.amazonaws.com"},
     {**GOOD, "cognitoEndpoint": "https://cognito-identity-fips.us-east-1.amazonaws.com/"}),
    ({**GOOD, "cognitoEndpoint": "http://127.0.0.1:9/"},
     {**GOOD, "cognitoEndpoint": "http://127.0.0.1:9/"}),
    ({**GOOD, "extra": 1}, GOOD),
    ({"provider": "hubbub"}, None),
    ([], None),
    (None, None),
])
def test_site_config(raw: Any, expected: Any) -> None:
    (result,) = run_js(("parseSiteConfig", [raw]))
    assert value(result) == expected


@pytest.mark.parametrize(("raw", "message"), [
    ({"provider": "aws", "region": "", "identityPoolId": "", "iotEndpoint": ""},
     "not filled in"),
    ({**GOOD, "region": "Europe"}, "not a region"),
    ({**GOOD, "identityPoolId": "us-east-1:0a1b2c3d-0000-4000-8000-00000000abcd"},
     "eu-west-1:<uuid>"),
    ({**GOOD, "identityPoolId": 7}, "identityPoolId"),
    ({**GOOD, "iotEndpoint": "wss://abc/mqtt"}, "iotEndpoint"),
    ({**GOOD, "cognitoEndpoint": "http://evil.example/"}, "https"),
    ({**GOOD, "cognitoEndpoint": "javascript:alert(1)"}, "https"),
    ({**GOOD, "cognitoEndpoint": "not a url"}, "https"),
])
def test_bad_site_config_says_what_is_wrong(raw: Any, message: str) -> None:
    (result,) = run_js(("parseSiteConfig", [raw]))
    assert result["error"]["type"] == "ConfigError"
    assert message in result["error"]["message"]


class _Site(BaseHTTPRequestHandler):
    """/config.json as the three places serve it: S3 (JSON), hubbub (404), CloudFront's
    fallback for a missing object (the page, 200 text/html)."""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def do_GET(self) -> None:
        status, ctype, body = {
            "/s3/config.json": (200, "application/json", json.dumps(GOOD)),
            "/cloudfront/config.json": (200, "text/html", "<!doctype html><title>x</title>"),
            "/broken/config.json": (200, "application/json", "{not json"),
        }.get(self.path, (404, "text/plain", "not found"))
        data = body.encode()
        self.send_response(status)
        self.send_header("content-type", ctype)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def test_load_site_config() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Site)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        s3, local, cloudfront, broken = run_js(
            *[("loadSiteConfig", [f"{base}/{where}/config.json"])
              for where in ("s3", "hubbub", "cloudfront", "broken")])
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    assert value(s3) == GOOD
    assert value(local) is None
    assert value(cloudfront) is None
    assert broken["error"]["type"] == "ConfigError"
