"""AWS IoT SQL (version 2016-03-23) and the rules engine that runs its actions.

``parse_sql`` parses (and caches) a statement; ``Statement.evaluate`` is pure.
``RulesEngine`` matches published messages to ``RuleSpec``s and drives an
``ActionSink``. See docs/iotsql.md for the dialect and the choices made.
"""

from hubbub.rules.context import MessageContext
from hubbub.rules.engine import ActionOutcome, ActionSink, RulesEngine
from hubbub.rules.parser import SqlError
from hubbub.rules.spec import (
    Action,
    DynamoDBv2Action,
    KinesisAction,
    LambdaAction,
    RepublishAction,
    RuleSpec,
    StepFunctionsAction,
)
from hubbub.rules.statement import EvalResult, EvaluationError, Statement, parse_sql
from hubbub.rules.templates import compile_template, render_template
from hubbub.rules.values import UNDEFINED

__all__ = [
    "UNDEFINED", "Action", "ActionOutcome", "ActionSink", "DynamoDBv2Action", "EvalResult",
    "EvaluationError",
    "KinesisAction", "LambdaAction", "MessageContext", "RepublishAction", "RuleSpec",
    "RulesEngine", "SqlError", "Statement", "StepFunctionsAction", "compile_template",
    "parse_sql", "render_template",
]
