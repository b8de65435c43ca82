"""The guest policy as it must read on AWS: the MQTT client id bound to the Cognito identity.

Locally the credential binds the client id (``POST /api/credentials`` signs both), so the
guest policy may say ``iot:Connect`` on ``client/${iot:ClientId}``: any id the token names.
With Cognito nothing binds them: ``${iot:ClientId}`` is whatever the client chose, so that
statement would let a guest connect as another guest (IoT Core disconnects the first
connection, and the newcomer reads its inbox, ``chat/in/${iot:ClientId}``). The export
therefore rewrites ``${iot:ClientId}`` in the ``client/`` resources of the statements that
allow ``iot:Connect`` to ``${cognito-identity.amazonaws.com:sub}`` (the identity id,
``region:uuid``; "Authorization with Amazon Cognito identities" in the IoT developer guide
uses the same variable), and refuses a guest policy that would still let a guest connect
under any other id (``*``, a fixed id, an id with wildcards). The other statements keep
``${iot:ClientId}``: once the connection is bound, it *is* the identity id.

Deny statements are left as written: they only ever refuse more.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence

from hubbub.errors import ConfigError
from hubbub.export.cfn import Json

IDENTITY_VAR = "${cognito-identity.amazonaws.com:sub}"
_CLIENT_ID_VAR = re.compile(re.escape("${iot:ClientId}"), re.IGNORECASE)
#: arn:partition:iot:region:account:<type>/<name>, region and account as written (often *)
_IOT_ARN = re.compile(r"arn:[^:]*:iot:[^:]*:[^:]*:(?P<rest>.*)\Z", re.DOTALL)
#: Any client resource; a resource pattern that matches it can name a client.
_PROBE = "arn:aws:iot:us-east-1:123456789012:client/probe"


def _glob(pattern: str) -> re.Pattern[str]:
    # IAM wildcards: * any run of characters, ? one character; case-sensitive for resources.
    return re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c)
                              for c in pattern), re.DOTALL)


def _listed(value: object) -> list[str]:
    items = value if isinstance(value, list) else [value]
    return [v for v in items if isinstance(v, str)]


def allows_connect(statement: Json) -> bool:
    """Whether an Allow statement grants ``iot:Connect`` (IAM action names are
    case-insensitive and take wildcards)."""
    if statement.get("Effect") != "Allow":
        return False
    return any(_glob(a.lower()).fullmatch("iot:connect") for a in _listed(statement["Action"]))


def _bind(resource: str, where: str) -> str:
    m = _IOT_ARN.match(resource)
    if m is None:  # "*" and the like, or another service's ARN
        names_client = _glob(resource).fullmatch(_PROBE) is not None
    else:  # only a literal type other than client (topic/..., topicfilter/...) is safe
        kind, slash, _ = m["rest"].partition("/")
        names_client = not slash or kind == "client" or "*" in kind or "?" in kind
    if not names_client:
        return resource  # a topic or topicfilter in a statement that also allows Connect
    bound = _CLIENT_ID_VAR.sub(lambda _: IDENTITY_VAR, resource)
    m = _IOT_ARN.match(bound)
    if m is None or m["rest"] != f"client/{IDENTITY_VAR}":
        raise ConfigError(
            f"{where}: on AWS a guest may connect only as its own Cognito identity; "
            f"iot:Connect on {resource!r} would let a guest take another client's id "
            f"(write 'arn:aws:iot:*:*:client/${{iot:ClientId}}', which the export binds to "
            f"{IDENTITY_VAR})")
    return bound


def bind_to_identity(statements: Sequence[Json], where: str) -> list[Json]:
    """The guest policy's statements with every ``iot:Connect`` bound to the identity id
    (see the module docstring). Raises ``ConfigError`` when that cannot be done."""
    out: list[Json] = []
    for i, statement in enumerate(statements):
        st = copy.deepcopy(statement)
        if allows_connect(st):
            resources = st["Resource"]
            if isinstance(resources, list):
                st["Resource"] = [_bind(r, f"{where}.Statement[{i}]") if isinstance(r, str)
                                  else r for r in resources]
            elif isinstance(resources, str):
                st["Resource"] = _bind(resources, f"{where}.Statement[{i}]")
        out.append(st)
    return out
