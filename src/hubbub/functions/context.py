"""The Lambda ``context`` object handed to every handler."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class LambdaContext:
    """The fields of AWS Lambda's Python context that handlers use."""

    function_name: str
    aws_request_id: str
    deadline: float  # clock seconds at which the invocation times out
    clock: Callable[[], float]
    memory_limit_in_mb: int = 128
    function_version: str = "$LATEST"

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:local:000000000000:function:{self.function_name}"

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - self.clock()) * 1000))
