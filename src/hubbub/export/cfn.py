"""Small CloudFormation building blocks shared by the SAM export's modules.

Physical names: functions and state machines get explicit names, ``{stack}-{name}``, so
that a function's environment and IAM policies can name its siblings with ``Fn::Sub``
instead of ``Ref`` (a function referring to a state machine that refers back to the
function would be a circular dependency, which CloudFormation refuses).
"""

from __future__ import annotations

import re
from typing import Any

from hubbub.errors import ConfigError

Json = dict[str, Any]

#: ``{stack}-`` as a Sub template: the prefix of every function and state machine name.
PREFIX = "${AWS::StackName}-"
ACCOUNT = "${AWS::Partition}:{service}:${AWS::Region}:${AWS::AccountId}"
#: Lambda function names: letters, digits, '-' and '_', at most 64 (with the stack name).
_LAMBDA_NAME = re.compile(r"[A-Za-z0-9_-]{1,40}\Z")


def ref(logical_id: str) -> Json:
    return {"Ref": logical_id}


def getatt(logical_id: str, attribute: str) -> Json:
    return {"Fn::GetAtt": [logical_id, attribute]}


def sub(template: str) -> Json:
    return {"Fn::Sub": template}


def arn(service: str, resource: str) -> Json:
    """``arn:{partition}:{service}:{region}:{account}:{resource}`` for this stack's account."""
    return sub("arn:" + ACCOUNT.replace("{service}", service) + ":" + resource)


def function_arn(name: str) -> Json:
    return arn("lambda", f"function:{PREFIX}{name}")


def machine_arn(name: str) -> Json:
    return arn("states", f"stateMachine:{PREFIX}{name}")


def physical(name: str) -> Json:
    return sub(PREFIX + name)


def check_function_name(name: str) -> None:
    """A hubbub function becomes a Lambda function named ``{stack}-{name}``."""
    if not _LAMBDA_NAME.match(name):
        raise ConfigError(f"function {name!r}: on AWS a function name is 1-40 letters, digits, "
                          "'-' or '_' (Lambda allows 64 with the stack name in front)")


def escape_sub(text: str) -> str:
    """Text inside an ``Fn::Sub`` template, with ``${...}`` kept literally (``${!...}``)."""
    return text.replace("${", "${!")


def topic_pattern(template: str) -> str:
    """An IoT substitution template (``chat/pub/${room}``) as an IAM resource pattern: every
    ``${...}`` can become anything, so it becomes ``*``."""
    return re.sub(r"\$\{[^}]*\}", "*", template)


class Ids:
    """Logical ids: CamelCase of the manifest's names plus a kind suffix, unique."""

    def __init__(self) -> None:
        self._owner: dict[str, str] = {}

    def make(self, name: str, suffix: str) -> str:
        base = "".join(p[:1].upper() + p[1:] for p in re.split(r"[^A-Za-z0-9]+", name) if p)
        if not base or not base[0].isalpha():
            base = "X" + base
        logical = base + suffix
        what = f"{suffix.lower()} {name!r}"
        prior = self._owner.get(logical)
        if prior is not None and prior != what:
            raise ConfigError(f"{what} and {prior} both become the CloudFormation logical id "
                              f"{logical!r}; rename one of them")
        self._owner[logical] = what
        return logical
