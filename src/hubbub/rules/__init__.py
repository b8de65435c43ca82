"""AWS IoT SQL (version 2016-03-23) and the rules engine that runs its actions."""

from hubbub.rules.context import MessageContext
from hubbub.rules.parser import SqlError
from hubbub.rules.statement import EvalResult, Statement, parse_sql
from hubbub.rules.templates import compile_template, render_template
from hubbub.rules.values import UNDEFINED

__all__ = [
    "UNDEFINED", "EvalResult", "MessageContext", "SqlError", "Statement", "compile_template",
    "parse_sql", "render_template",
]
