"""Contracts of the HTTP side: requests and responses inside hubbub, and the JSON shapes
of API Gateway HTTP API payload format 2.0 that route handlers see.

Payload 2.0 reference: "Working with AWS Lambda proxy integrations for HTTP APIs"
(docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-integrations-lambda.html).
As API Gateway does, optional keys (``cookies``, ``queryStringParameters``,
``pathParameters``, ``body``) are absent when there is nothing to put in them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import NotRequired, TypedDict

Headers = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """One parsed HTTP request: header names lowercased, values decoded as Latin-1."""

    method: str
    target: str
    path: str  # raw (percent-encoded) path, without the query
    query: str  # raw query string, without "?"
    headers: Headers
    body: bytes = b""
    http_version: str = "1.1"
    peer: tuple[str, int] | None = None

    def header(self, name: str) -> str | None:
        """The value of header ``name`` (lowercase), duplicates comma-joined; None if absent."""
        values = [v for k, v in self.headers if k == name]
        return ", ".join(values) if values else None


@dataclass(frozen=True, slots=True)
class HttpResponse:
    """A complete response. ``body`` is not sent for HEAD, 204 and 304."""

    status: int
    headers: Headers = ()
    body: bytes = b""


class HttpContext(TypedDict):
    method: str
    path: str
    protocol: str
    sourceIp: str
    userAgent: str


class RequestContext(TypedDict):
    accountId: str
    apiId: str
    domainName: str
    domainPrefix: str
    http: HttpContext
    requestId: str
    routeKey: str
    stage: str
    time: str
    timeEpoch: int


class HttpApiEvent(TypedDict):
    """The event a route handler receives (API Gateway HTTP API payload 2.0)."""

    version: str
    routeKey: str
    rawPath: str
    rawQueryString: str
    cookies: NotRequired[list[str]]
    headers: dict[str, str]
    queryStringParameters: NotRequired[dict[str, str]]
    pathParameters: NotRequired[dict[str, str]]
    requestContext: RequestContext
    body: NotRequired[str]
    isBase64Encoded: bool


class HttpApiResponse(TypedDict, total=False):
    """A handler's explicit answer (payload 2.0); any other return value is inferred."""

    statusCode: int
    headers: dict[str, str]
    body: str
    isBase64Encoded: bool
    cookies: list[str]


#: A route handler: API Gateway event in, payload 2.0 response (or anything to infer) out.
Handler = Callable[[HttpApiEvent], Awaitable[object]]
