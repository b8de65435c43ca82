"""Who may do what on AWS: IoT policies, the Cognito identity pool, and the static site.

hubbub's ``POST /api/credentials`` hands a guest a short-lived token bound to a client id,
and the broker holds the guest to the manifest's guest policy. On AWS the same job is
Cognito's: an identity pool with unauthenticated identities hands out temporary AWS
credentials for an IAM role. IoT Core evaluates *only the IAM role's policy* for an
unauthenticated Cognito identity (an IoT policy cannot be attached to one; AWS IoT
developer guide, "Authorization with Amazon Cognito identities"), so the guest IoT policy's
statements become that role's IAM policy, with ``iot:Connect`` bound to the identity id
(:mod:`hubbub.export.guest`: locally the token binds the client id, on AWS only the policy
can). The IoT policies are still exported as written, as ``AWS::IoT::Policy``, for
authenticated identities and certificates (attach them with ``aws iot attach-policy``).

The site gets the same security headers as hubbub's own HTTP server (a CloudFront response
headers policy), except that the page may also reach Cognito and IoT Core.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hubbub.app import AppSpec
from hubbub.errors import ConfigError
from hubbub.export.cfn import Ids, Json, getatt, physical, ref, sub
from hubbub.export.guest import bind_to_identity
from hubbub.web.events import SECURITY_HEADERS

#: CloudFront managed policies (ids are fixed by AWS, "Using the managed cache policies").
CACHING_OPTIMIZED = "658327ea-f89d-4fab-a63d-7e88639e58f6"
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
ALL_VIEWER_EXCEPT_HOST = "b689b0a8-53d0-40ab-baf2-68738e2966ac"


def iam_statements(policy: Mapping[str, Any], where: str) -> list[Json]:
    """An IoT policy document's statements as IAM statements (they share the grammar; IoT
    policies only use the ``iot:`` actions, which IAM knows too)."""
    statements = policy.get("Statement")
    if isinstance(statements, Mapping):
        statements = [statements]
    if not isinstance(statements, list) or not statements:
        raise ConfigError(f"{where}: a policy needs a non-empty 'Statement' list")
    out: list[Json] = []
    for i, st in enumerate(statements):
        if not isinstance(st, Mapping) or st.get("Effect") not in ("Allow", "Deny"):
            raise ConfigError(f"{where}.Statement[{i}]: needs 'Effect' Allow or Deny")
        if "Action" not in st or "Resource" not in st:
            raise ConfigError(f"{where}.Statement[{i}]: needs 'Action' and 'Resource'")
        out.append({k: v for k, v in st.items() if k != "Sid" or isinstance(v, str)})
    return out


def policy_resources(app: AppSpec, ids: Ids) -> dict[str, Json]:
    """One ``AWS::IoT::Policy`` per manifest policy, named ``{stack}-{name}``."""
    out: dict[str, Json] = {}
    for name, doc in app.policies.items():
        iam_statements(doc, f"policies.{name}")  # same checks: a clear error, not a failed stack
        out[ids.make(name, "Policy")] = {"Type": "AWS::IoT::Policy", "Properties": {
            "PolicyName": physical(name),
            "PolicyDocument": {"Version": doc.get("Version", "2012-10-17"),
                               "Statement": doc["Statement"]}}}
    return out


def identity_resources(app: AppSpec) -> dict[str, Json]:
    """The identity pool for guests and its unauthenticated role (none without a guest
    policy: then nobody gets credentials, as locally)."""
    if app.guest_policy is None:
        return {}
    where = f"policies.{app.guest_policy}"
    statements = bind_to_identity(iam_statements(app.policies[app.guest_policy], where),
                                  where)
    return {
        "IdentityPool": {"Type": "AWS::Cognito::IdentityPool", "Properties": {
            "AllowUnauthenticatedIdentities": True,
            "IdentityPoolName": sub("${AWS::StackName} guests")}},
        "GuestRole": {"Type": "AWS::IAM::Role", "Properties": {
            "Description": f"unauthenticated Cognito identities: policy {app.guest_policy}",
            "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"Federated": "cognito-identity.amazonaws.com"},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": {"cognito-identity.amazonaws.com:aud": ref("IdentityPool")},
                    "ForAnyValue:StringLike": {
                        "cognito-identity.amazonaws.com:amr": "unauthenticated"}}}]},
            "Policies": [{"PolicyName": app.guest_policy, "PolicyDocument": {
                "Version": "2012-10-17", "Statement": statements}}]}},
        "IdentityPoolRoles": {"Type": "AWS::Cognito::IdentityPoolRoleAttachment", "Properties": {
            "IdentityPoolId": ref("IdentityPool"),
            "Roles": {"unauthenticated": getatt("GuestRole", "Arn")}}},
    }


#: Where the page connects on AWS (aws.js): Cognito for credentials, the IoT data endpoint.
AWS_CONNECT_SRC = ("connect-src 'self' https://cognito-identity.${AWS::Region}.${AWS::URLSuffix} "
                   "wss://*.iot.${AWS::Region}.${AWS::URLSuffix}")


def content_security_policy() -> str:
    """hubbub's own CSP (``hubbub.web.events.SECURITY_HEADERS``) with the AWS connect-src,
    as a ``Fn::Sub`` template."""
    local = dict(SECURITY_HEADERS)["content-security-policy"]
    directives = [d.strip() for d in local.split(";") if d.strip()]
    return "; ".join(AWS_CONNECT_SRC if d.split()[0] == "connect-src" else d
                     for d in directives)


def _headers_policy() -> Json:
    headers = dict(SECURITY_HEADERS)
    frame = headers["x-frame-options"]
    return {"Type": "AWS::CloudFront::ResponseHeadersPolicy", "Properties": {
        "ResponseHeadersPolicyConfig": {
            "Name": sub("${AWS::StackName}-site"),
            "Comment": "the security headers hubbub serves locally; connect-src for AWS",
            "SecurityHeadersConfig": {
                "ContentSecurityPolicy": {"ContentSecurityPolicy": sub(content_security_policy()),
                                          "Override": True},
                "ContentTypeOptions": {"Override": True},  # nosniff, the only value
                "FrameOptions": {"FrameOption": frame, "Override": True},
                "ReferrerPolicy": {"ReferrerPolicy": headers["referrer-policy"],
                                   "Override": True}}}}}


def site_resources(app: AppSpec, *, with_api: bool) -> dict[str, Json]:
    """A private bucket for ``web/`` behind CloudFront (origin access control), with the
    HTTP API under ``/api/*`` on the same origin, as the client calls it locally."""
    if app.static is None:
        return {}
    origins: list[Json] = [{
        "Id": "site", "DomainName": getatt("SiteBucket", "RegionalDomainName"),
        "S3OriginConfig": {"OriginAccessIdentity": ""},
        "OriginAccessControlId": getatt("SiteAccessControl", "Id")}]
    # config.json changes after the first upload (site-config runs after sam deploy): the
    # edge must not keep the placeholder for a day. It is small and read once per page load.
    behaviors: list[Json] = [{
        "PathPattern": "/config.json", "TargetOriginId": "site",
        "ViewerProtocolPolicy": "redirect-to-https", "AllowedMethods": ["GET", "HEAD"],
        "CachePolicyId": CACHING_DISABLED, "ResponseHeadersPolicyId": ref("SiteHeaders")}]
    if with_api:
        origins.append({
            "Id": "api",
            "DomainName": sub("${HttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}"),
            "CustomOriginConfig": {"OriginProtocolPolicy": "https-only"}})
        behaviors.append({
            "PathPattern": "/api/*", "TargetOriginId": "api",
            "ViewerProtocolPolicy": "redirect-to-https",
            "AllowedMethods": ["GET", "HEAD", "OPTIONS", "PUT", "PATCH", "POST", "DELETE"],
            "CachePolicyId": CACHING_DISABLED, "OriginRequestPolicyId": ALL_VIEWER_EXCEPT_HOST,
            "ResponseHeadersPolicyId": ref("SiteHeaders")})
    distribution: Json = {
        "Enabled": True, "DefaultRootObject": "index.html", "HttpVersion": "http2and3",
        "Origins": origins,
        "DefaultCacheBehavior": {
            "TargetOriginId": "site", "ViewerProtocolPolicy": "redirect-to-https",
            "AllowedMethods": ["GET", "HEAD"], "CachePolicyId": CACHING_OPTIMIZED,
            "ResponseHeadersPolicyId": ref("SiteHeaders"), "Compress": True},
        # The client takes its room from the path (/lobby): every unknown path is the page.
        "CustomErrorResponses": [
            {"ErrorCode": 403, "ResponseCode": 200, "ResponsePagePath": "/index.html"},
            {"ErrorCode": 404, "ResponseCode": 200, "ResponsePagePath": "/index.html"}]}
    distribution["CacheBehaviors"] = behaviors
    return {
        "SiteBucket": {"Type": "AWS::S3::Bucket", "Properties": {
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": True, "BlockPublicPolicy": True,
                "IgnorePublicAcls": True, "RestrictPublicBuckets": True},
            "BucketEncryption": {"ServerSideEncryptionConfiguration": [
                {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]}}},
        "SiteAccessControl": {"Type": "AWS::CloudFront::OriginAccessControl", "Properties": {
            "OriginAccessControlConfig": {
                "Name": sub("${AWS::StackName}-site"), "OriginAccessControlOriginType": "s3",
                "SigningBehavior": "always", "SigningProtocol": "sigv4"}}},
        "SiteHeaders": _headers_policy(),
        "SiteDistribution": {"Type": "AWS::CloudFront::Distribution", "Properties": {
            "DistributionConfig": distribution}},
        "SiteBucketPolicy": {"Type": "AWS::S3::BucketPolicy", "Properties": {
            "Bucket": ref("SiteBucket"),
            "PolicyDocument": {"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"Service": "cloudfront.amazonaws.com"},
                "Action": "s3:GetObject", "Resource": sub("${SiteBucket.Arn}/*"),
                "Condition": {"StringEquals": {"AWS:SourceArn": sub(
                    "arn:${AWS::Partition}:cloudfront::${AWS::AccountId}:distribution/"
                    "${SiteDistribution}")}}}]}}},
    }
