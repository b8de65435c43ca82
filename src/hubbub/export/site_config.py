"""``config.json`` beside the exported page: what the web client needs to run on AWS.

The page reads ``/config.json`` at start (``web/aws.js``). As shipped it says
``{"provider": "hubbub"}`` (credentials from ``POST /api/credentials``); the export writes
a placeholder ``{"provider": "aws", ...}`` with empty values, because the identity pool id
and the account's IoT data endpoint exist only after ``sam deploy``; the page then says
plainly that it is not configured. :func:`write_site_config` fills it in, from values
given or read from the deployed stack (:func:`from_stack`). The checks here are the
page's own (``parseSiteConfig`` in ``aws.js``), so a file this writes is one it accepts.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypedDict

from hubbub.errors import ConfigError

FILENAME = "config.json"
_REGION = re.compile(r"[a-z]{2}(?:-[a-z]+)+-\d{1,2}\Z")
_POOL = re.compile(r"(?P<region>[a-z]{2}(?:-[a-z]+)+-\d{1,2}):[0-9a-f-]{36}\Z")
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_HOST = re.compile(rf"{_LABEL}(?:\.{_LABEL})*(?::\d{{1,5}})?\Z")


class SiteConfig(TypedDict):
    provider: str
    region: str
    identityPoolId: str
    iotEndpoint: str


#: What the export writes before the stack exists; the page refuses it with a clear message.
PLACEHOLDER = SiteConfig(provider="aws", region="", identityPoolId="", iotEndpoint="")


def site_config(region: str, identity_pool_id: str, iot_endpoint: str) -> SiteConfig:
    """A checked config. Raises ``ConfigError`` naming the value the page would refuse."""
    if not _REGION.match(region):
        raise ConfigError(f"region {region!r} is not an AWS region name (like us-east-1)")
    pool = _POOL.match(identity_pool_id)
    if pool is None or pool["region"] != region:
        raise ConfigError(f"identity pool id {identity_pool_id!r} is not '{region}:<uuid>'")
    endpoint = iot_endpoint.strip().lower()
    if not _HOST.match(endpoint) or len(endpoint) > 253:
        raise ConfigError(f"IoT endpoint {iot_endpoint!r} is not a host name "
                          "(aws iot describe-endpoint --endpoint-type iot:Data-ATS)")
    return SiteConfig(provider="aws", region=region, identityPoolId=identity_pool_id,
                      iotEndpoint=endpoint)


def write_site_config(site: Path, config: SiteConfig) -> Path:
    """Write ``config.json`` into the exported ``site/`` folder (atomically: the page never
    reads half a file). Raises ``ConfigError`` when ``site`` is not a site folder."""
    site = Path(site)
    if not (site / "index.html").is_file():
        raise ConfigError(f"{site} is not an exported site (no index.html); "
                          "export first: hubbub export sam --out DIR/template.json")
    path = site / FILENAME
    tmp = site / f".{FILENAME}.tmp"
    tmp.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


#: ``boto3.client``-like: a service name (and keyword arguments) to a client.
ClientFactory = Callable[..., Any]


def from_stack(stack: str, client: ClientFactory) -> SiteConfig:
    """The config of a deployed stack: its ``IdentityPoolId`` output, its region, and the
    account's ``iot:Data-ATS`` endpoint (CloudFormation cannot read that one)."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        cfn = client("cloudformation")
        stacks = cfn.describe_stacks(StackName=stack)["Stacks"]
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
        endpoint = client("iot").describe_endpoint(endpointType="iot:Data-ATS")
    except ClientError as exc:
        raise ConfigError(f"stack {stack!r}: {exc}") from None
    except BotoCoreError as exc:  # no credentials, no region, no network
        raise ConfigError(f"stack {stack!r}: {exc}") from None
    pool = outputs.get("IdentityPoolId")
    if not pool:
        raise ConfigError(f"stack {stack!r} has no IdentityPoolId output: was it exported "
                          "from an application with a guest policy?")
    return site_config(str(cfn.meta.region_name), pool, endpoint["endpointAddress"])
