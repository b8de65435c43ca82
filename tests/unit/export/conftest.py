"""Fixtures for the AWS export and the Lambda shim: moto's AWS (``clock``: tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

REGION = "us-east-1"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """moto's in-process AWS; yields ``boto3.client`` bound to the test region."""
    moto = pytest.importorskip("moto")
    boto3 = pytest.importorskip("boto3")
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": REGION,
                       "AWS_REGION": REGION}.items():
        monkeypatch.setenv(key, value)
    with moto.mock_aws():
        def client(service: str, **kwargs: Any) -> Any:
            return boto3.client(service, region_name=REGION, **kwargs)
        yield client
