"""The web client's SigV4 presigning (aws.js, Web Crypto in node) gives byte for byte the URL
botocore's own query-string signer gives for IoT Core's WebSocket endpoint, with the same
credentials and time; the session token is appended after signing, as IoT Core wants."""

from __future__ import annotations

import random
import string
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.unit.aws.node import run_js, value

pytest.importorskip("botocore")
from tests.unit.aws.presign import SERVICE, botocore_url  # noqa: E402


def js_url(endpoint: str, region: str, key: str, secret: str, token: str | None,
           when: datetime, expires: int) -> dict[str, object]:
    return {"endpoint": endpoint, "region": region, "now": int(when.timestamp() * 1000),
            "expires": expires,
            "credentials": {"accessKeyId": key, "secretAccessKey": secret,
                            "sessionToken": token}}


FIXED = [
    # (endpoint, region, key, secret, token, time)
    ("a1b2c3d4e5f6g7-ats.iot.us-east-1.amazonaws.com", "us-east-1", "ASIAEXAMPLEKEY000001",
     "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "IQoJb3JpZ2luX2VjEJr//////////wEaCXVz+ZWFzdC0x=",
     datetime(2026, 11, 27, 4, 55, 0, tzinfo=UTC)),
    ("xyz-ats.iot.eu-west-1.amazonaws.com", "eu-west-1", "ASIA2", "s3cr3t+/=",
     "token with spaces & ampersands ?=/", datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC)),
    ("abc-ats.iot.cn-north-1.amazonaws.com.cn", "cn-north-1", "AKIA", "k", None,
     datetime(2027, 1, 1, 0, 0, 0, tzinfo=UTC)),
    ("localhost:8443", "ap-southeast-2", "AKID", "secret", "tok", datetime(2026, 2, 28,
                                                                           12, tzinfo=UTC)),
]


def random_cases(n: int, seed: int = 20261127) -> list[tuple[str, str, str, str, str | None,
                                                              datetime, int]]:
    rng = random.Random(seed)
    b64 = string.ascii_letters + string.digits + "+/="
    regions = ["us-east-1", "us-west-2", "eu-central-1", "ap-northeast-1", "sa-east-1",
               "us-gov-west-1", "me-south-1"]
    cases = []
    for _ in range(n):
        prefix = "".join(rng.choices(string.ascii_lowercase + string.digits, k=14))
        region = rng.choice(regions)
        key = "ASIA" + "".join(rng.choices(string.ascii_uppercase + string.digits, k=16))
        secret = "".join(rng.choices(string.ascii_letters + string.digits + "+/", k=40))
        token = ("".join(rng.choices(b64, k=rng.randint(1, 900)))
                 if rng.random() < 0.9 else None)
        when = datetime.fromtimestamp(rng.randint(1_700_000_000, 2_000_000_000), UTC)
        expires = rng.choice([1, 300, 3600, 86400, 604800])
        cases.append((f"{prefix}-ats.iot.{region}.amazonaws.com", region, key, secret, token,
                      when, expires))
    return cases


def test_fixed_cases_match_botocore() -> None:
    cases = [(*c, 300) for c in FIXED]
    results = run_js(*[("presignIotUrl", [js_url(*c)]) for c in cases])
    for case, result in zip(cases, results, strict=True):
        assert value(result) == botocore_url(*case), case


def test_random_cases_match_botocore() -> None:
    cases = random_cases(60)
    results = run_js(*[("presignIotUrl", [js_url(*c)]) for c in cases])
    for case, result in zip(cases, results, strict=True):
        assert value(result) == botocore_url(*case), case


def test_url_shape() -> None:
    endpoint, region, key, secret, token, when = FIXED[0]
    (result,) = run_js(("presignIotUrl", [js_url(endpoint, region, key, secret, token, when,
                                                 300)]))
    url = urlsplit(value(result))
    assert (url.scheme, url.netloc, url.path) == ("wss", endpoint, "/mqtt")
    params = parse_qsl(url.query, strict_parsing=True)
    names = [k for k, _ in params]
    # signed parameters, then the signature, then the token (not signed, IoT Core's rule)
    assert names == ["X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires",
                     "X-Amz-SignedHeaders", "X-Amz-Signature", "X-Amz-Security-Token"]
    got = dict(params)
    assert got["X-Amz-Credential"] == f"{key}/20261127/{region}/{SERVICE}/aws4_request"
    assert got["X-Amz-Date"] == "20261127T045500Z"
    assert got["X-Amz-SignedHeaders"] == "host"
    assert got["X-Amz-Security-Token"] == token  # round-trips through the encoding
    assert len(got["X-Amz-Signature"]) == 64


def test_the_signature_depends_on_every_input() -> None:
    endpoint, region, key, secret, token, when = FIXED[0]
    base = js_url(endpoint, region, key, secret, token, when, 300)
    variants = [base,
                {**base, "now": base["now"] + 1000},  # type: ignore[operator]
                {**base, "region": "us-west-2"},
                {**base, "endpoint": "other-ats.iot.us-east-1.amazonaws.com"},
                {**base, "expires": 301},
                {**base, "credentials": {**base["credentials"],  # type: ignore[dict-item]
                                         "secretAccessKey": secret + "x"}}]
    signatures = [dict(parse_qsl(urlsplit(value(r)).query))["X-Amz-Signature"]
                  for r in run_js(*[("presignIotUrl", [v]) for v in variants])]
    assert len(set(signatures)) == len(signatures)


@pytest.mark.parametrize(("change", "message"), [
    ({"endpoint": "https://x.example/"}, "not a host name"),
    ({"endpoint": "UPPER_case.example"}, "not a host name"),
    ({"endpoint": "a..b"}, "not a host name"),
    ({"endpoint": ""}, "not a host name"),
    ({"region": "us-east"}, "not a region"),
    ({"region": "../x"}, "not a region"),
    ({"credentials": {"accessKeyId": "", "secretAccessKey": "s"}}, "credentials need"),
    ({"credentials": {"accessKeyId": "a"}}, "credentials need"),
    ({"credentials": {"accessKeyId": "a", "secretAccessKey": "s", "sessionToken": 5}},
     "credentials need"),
    ({"credentials": None}, "credentials need"),
    ({"now": None}, "not a time"),
    ({"expires": 0}, "X-Amz-Expires"),
    ({"expires": 604801}, "X-Amz-Expires"),
    ({"expires": "300"}, "X-Amz-Expires"),
])
def test_bad_input_is_refused(change: dict[str, object], message: str) -> None:
    endpoint, region, key, secret, token, when = FIXED[0]
    args = {**js_url(endpoint, region, key, secret, token, when, 300), **change}
    (result,) = run_js(("presignIotUrl", [args]))
    assert not result["ok"]
    assert result["error"]["type"] == "ConfigError"
    assert message in result["error"]["message"]


def test_amz_date() -> None:
    ms = int(datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC).timestamp() * 1000)
    (result,) = run_js(("amzDate", [ms]))
    assert value(result) == "20260102T030405Z"


_label = st.from_regex(r"[a-z0-9](?:[a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)
_case = st.tuples(
    st.lists(_label, min_size=1, max_size=4).map(".".join),
    st.sampled_from(["us-east-1", "eu-west-3", "ap-south-2", "us-gov-east-1", "cn-north-1"]),
    st.text(st.characters(codec="ascii", exclude_categories=("Cc",)), min_size=1, max_size=30),
    st.text(min_size=1, max_size=60),  # any Unicode: both sides must encode it as UTF-8
    st.one_of(st.none(), st.text(min_size=1, max_size=200)),
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31),
                 timezones=st.just(UTC)).map(lambda d: d.replace(microsecond=0)),
    st.integers(1, 604800),
)


@settings(max_examples=5, deadline=None)
@given(st.lists(_case, min_size=25, max_size=25))
def test_generated_cases_match_botocore(cases: list[tuple[Any, ...]]) -> None:
    # 25 cases per node run keeps the run short; Hypothesis draws the batches
    results = run_js(*[("presignIotUrl", [js_url(*c)]) for c in cases])
    for case, result in zip(cases, results, strict=True):
        assert value(result) == botocore_url(*case), case
