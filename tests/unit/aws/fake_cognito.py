"""A fake Cognito identity endpoint on 127.0.0.1 (port 0) that checks the request shapes of
the Cognito Identity JSON 1.1 API (``X-Amz-Target``, content type, body fields) and answers
what a test scripted, in the shapes the API reference gives (boto3 parses them)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

POOL = "us-east-1:11111111-2222-3333-4444-555555555555"
TARGET_PREFIX = "AWSCognitoIdentityService."
CONTENT_TYPE = "application/x-amz-json-1.1"
#: The body fields each operation takes (required ones first) in the API reference.
FIELDS = {"GetId": ({"IdentityPoolId"}, {"AccountId", "Logins"}),
          "GetCredentialsForIdentity": ({"IdentityId"}, {"Logins", "CustomRoleArn"})}


@dataclass
class Recorded:
    target: str
    content_type: str
    body: dict[str, Any]
    headers: dict[str, str]


@dataclass
class FakeCognito:
    url: str = ""
    requests: list[Recorded] = field(default_factory=list)
    #: Identities Cognito knows; GetId adds one.
    identities: set[str] = field(default_factory=set)
    #: Scripted answers that replace the next normal one: (status, body or None, raw text).
    script: list[tuple[int, dict[str, Any] | None, str]] = field(default_factory=list)
    expiration: float = 2_000_000_000.5
    problems: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, target: str, body: dict[str, Any]) -> tuple[int, dict[str, Any] | None, str]:
        if self.script:
            return self.script.pop(0)
        if target == "GetId":
            if body["IdentityPoolId"] != POOL:
                return 400, error("ResourceNotFoundException", "IdentityPool not found"), ""
            identity = f"us-east-1:00000000-0000-0000-0000-{len(self.identities):012d}"
            self.identities.add(identity)
            return 200, {"IdentityId": identity}, ""
        identity = body["IdentityId"]
        if identity not in self.identities:
            return 400, error("ResourceNotFoundException", f"Identity '{identity}' not found."), ""
        n = len(self.requests) - 1  # this request's index
        return 200, {"IdentityId": identity, "Credentials": {
            "AccessKeyId": f"ASIAFAKE{n:012d}", "SecretKey": f"secret/{n}+key",
            "SessionToken": f"token+/={n}", "Expiration": self.expiration}}, ""


def error(kind: str, message: str) -> dict[str, Any]:
    return {"__type": f"com.amazonaws.cognito.identity.model#{kind}", "message": message}


def _handler(fake: FakeCognito) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

        def do_OPTIONS(self) -> None:  # a browser's CORS preflight, as Cognito answers it
            self.send_response(200)
            self.send_header("access-control-allow-origin", self.headers.get("origin", "*"))
            self.send_header("access-control-allow-methods", "POST")
            self.send_header("access-control-allow-headers",
                             self.headers.get("access-control-request-headers", ""))
            self.send_header("content-length", "0")
            self.end_headers()

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("content-length", "0")))
            target = self.headers.get("x-amz-target", "")
            ctype = self.headers.get("content-type", "")
            problem = None
            try:
                body = json.loads(raw)
            except ValueError:
                body, problem = {}, f"body is not JSON: {raw[:80]!r}"
            op = target.removeprefix(TARGET_PREFIX)
            if not target.startswith(TARGET_PREFIX) or op not in FIELDS:
                problem = f"unknown X-Amz-Target {target!r}"
            elif ctype.split(";")[0].strip() != CONTENT_TYPE:
                problem = f"content type {ctype!r}"
            elif self.path != "/":
                problem = f"path {self.path!r}"
            else:
                required, optional = FIELDS[op]
                if not isinstance(body, dict) or not required <= set(body) or \
                        set(body) - required - optional or \
                        not all(isinstance(body[k], str) and body[k] for k in required):
                    problem = f"{op}: bad body {body!r}"
            with fake.lock:
                fake.requests.append(Recorded(op, ctype, body if isinstance(body, dict) else {},
                                              {k.lower(): v for k, v in self.headers.items()}))
                if problem is not None:
                    fake.problems.append(problem)
                    status, answer, text = 400, error("ValidationException", problem), ""
                else:
                    status, answer, text = fake.answer(op, body)
            data = text.encode() if answer is None else json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("content-type", CONTENT_TYPE if answer is not None else "text/html")
            self.send_header("access-control-allow-origin", self.headers.get("origin", "*"))
            if answer is not None and status >= 400 and "__type" in answer:
                self.send_header("x-amzn-errortype", str(answer["__type"]).split("#")[-1])
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


@contextmanager
def fake_cognito() -> Iterator[FakeCognito]:
    fake = FakeCognito()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    fake.url = f"http://127.0.0.1:{server.server_address[1]}/"
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
