"""IoT SQL built-in functions (the reference's "Functions" page)."""

from hubbub.rules.functions import misc, numbers, strings, timefmt  # noqa: F401  (registers)
from hubbub.rules.functions.registry import FUNCTIONS, Function

KNOWN_FUNCTIONS = frozenset(FUNCTIONS)

__all__ = ["FUNCTIONS", "KNOWN_FUNCTIONS", "Function"]
