"""botocore's own presigned URL for IoT Core's WebSocket endpoint: the reference the web
client's SigV4 (aws.js) is held to, byte for byte."""

from __future__ import annotations

from datetime import datetime
from unittest import mock
from urllib.parse import quote

from botocore import auth as botocore_auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

SERVICE = "iotdevicegateway"


def botocore_url(endpoint: str, region: str, key: str, secret: str, token: str | None,
                 when: datetime, expires: int, path: str = "/mqtt") -> str:
    """botocore's presigned URL for ``wss://endpoint/mqtt``, token added after signing.

    The request is signed as https (same canonical request: GET, the path, host, the
    empty payload's hash) and the scheme swapped, as the AWS IoT SDKs do."""
    request = AWSRequest(method="GET", url=f"https://{endpoint}{path}")
    signer = botocore_auth.SigV4QueryAuth(Credentials(key, secret), SERVICE, region,
                                          expires=expires)
    with mock.patch.object(botocore_auth, "get_current_datetime",
                           return_value=when.replace(tzinfo=None)):
        signer.add_auth(request)
    url = "wss" + request.url[len("https"):]
    if token:
        url += "&X-Amz-Security-Token=" + quote(token, safe="-_.~")
    return url
