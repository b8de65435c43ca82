"""Identity, short-lived credentials and IoT policy evaluation (issue 3).

Pure modules (clock injected; the only I/O is ``keys.json`` in :mod:`hubbub.auth.keys`):
``keys`` (keyring, rotation), ``tokens`` (sign/verify), ``credentials`` (guest issuance),
``ratelimit``, ``documents`` (IoT policy JSON), ``policy`` (evaluation), ``coverage``
(subscription filters vs receivable topics), ``violations``.
"""

from hubbub.auth.credentials import CredentialIssuer, Credentials, rate_limit_key
from hubbub.auth.documents import (
    Action,
    PolicyDocument,
    PolicyError,
    builtin_policies,
    load_policy_file,
)
from hubbub.auth.keys import Keyring, SigningKey
from hubbub.auth.policy import Authorizer, Decision, PolicyEngine, check_client_id
from hubbub.auth.principal import Clock, Principal
from hubbub.auth.ratelimit import RateLimited, RateLimiter
from hubbub.auth.tokens import TokenRejected, TokenService
from hubbub.auth.violations import ViolationCounter

__all__ = [
    "Action", "Authorizer", "Clock", "CredentialIssuer", "Credentials", "Decision", "Keyring",
    "PolicyDocument", "PolicyEngine", "PolicyError", "Principal", "RateLimited", "RateLimiter",
    "SigningKey", "TokenRejected", "TokenService", "ViolationCounter", "builtin_policies",
    "check_client_id", "load_policy_file", "rate_limit_key",
]
