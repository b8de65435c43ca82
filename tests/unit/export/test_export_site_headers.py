"""The exported site's response headers: hubbub's own security headers, on every path
CloudFront serves, with a connect-src that lets the page reach Cognito and IoT Core (and
nothing else); config.json is never cached at the edge."""

from __future__ import annotations

from typing import Any

import pytest

from hubbub.app import load_app
from hubbub.export.identity import CACHING_DISABLED, content_security_policy
from hubbub.export.sam import build_template
from hubbub.web.events import SECURITY_HEADERS


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return build_template(load_app())


def directives(csp: str) -> dict[str, list[str]]:
    out = {}
    for d in csp.split(";"):
        name, *values = d.split()
        out[name] = values
    return out


def test_the_csp_is_the_local_one_but_for_connect_src() -> None:
    local = directives(dict(SECURITY_HEADERS)["content-security-policy"])
    aws = directives(content_security_policy())
    assert {k: v for k, v in aws.items() if k != "connect-src"} == \
        {k: v for k, v in local.items() if k != "connect-src"}
    assert "'unsafe-eval'" not in " ".join(aws["script-src"])
    assert aws["script-src"] == ["'self'"]
    # exactly the two AWS endpoints the page talks to, over TLS only (no ws:, no http:)
    assert aws["connect-src"] == [
        "'self'", "https://cognito-identity.${AWS::Region}.${AWS::URLSuffix}",
        "wss://*.iot.${AWS::Region}.${AWS::URLSuffix}"]


def test_every_behavior_sends_the_headers(template: dict[str, Any]) -> None:
    r = template["Resources"]
    config = r["SiteHeaders"]["Properties"]["ResponseHeadersPolicyConfig"]
    security = config["SecurityHeadersConfig"]
    assert security["ContentSecurityPolicy"] == {
        "ContentSecurityPolicy": {"Fn::Sub": content_security_policy()}, "Override": True}
    assert security["FrameOptions"]["FrameOption"] == "DENY"
    assert security["ReferrerPolicy"]["ReferrerPolicy"] == "no-referrer"
    assert security["ContentTypeOptions"] == {"Override": True}
    dist = r["SiteDistribution"]["Properties"]["DistributionConfig"]
    behaviors = [dist["DefaultCacheBehavior"], *dist["CacheBehaviors"]]
    assert all(b["ResponseHeadersPolicyId"] == {"Ref": "SiteHeaders"} for b in behaviors)


def test_config_json_is_not_cached_at_the_edge(template: dict[str, Any]) -> None:
    dist = template["Resources"]["SiteDistribution"]["Properties"]["DistributionConfig"]
    (config,) = [b for b in dist["CacheBehaviors"] if b["PathPattern"] == "/config.json"]
    assert config["CachePolicyId"] == CACHING_DISABLED
    assert config["TargetOriginId"] == "site"
