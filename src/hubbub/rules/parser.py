"""IoT SQL (version 2016-03-23) grammar and parser, built on lark's LALR parser.

Keywords and function names are case-insensitive; attribute names are not. Strings take
single or double quotes (the reference uses both). Like IoT Core, there are no comments
and no quoted attribute names (names with '-' or digits go through ``get()``). Errors come
out as ``SqlError`` with a line and column, never as a lark traceback.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from typing import Any

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import LarkError, UnexpectedCharacters, UnexpectedInput, VisitError

from hubbub.errors import ConfigError
from hubbub.rules import ast
from hubbub.rules.values import num

GRAMMAR = r"""
start: statement
expr_start: expr

statement: set_clause* select _FROM STRING (_WHERE expr)?
set_clause: _SET assignment ("," assignment)*
assignment: VARIABLE "=" expr

select: _SELECT _VALUE expr          -> select_value
      | _SELECT _VALUE "*"           -> select_value_star
      | _SELECT select_item ("," select_item)*  -> select_items
select_item: "*"                    -> star_item
           | expr (_AS alias)?      -> expr_item
alias: NAME | STRING

?expr: or_expr
?or_expr: and_expr | or_expr _OR and_expr       -> or_
?and_expr: not_expr | and_expr _AND not_expr    -> and_
?not_expr: cmp_expr | _NOT not_expr             -> not_
?cmp_expr: add_expr
         | add_expr CMP_OP add_expr             -> compare
         | add_expr _IN add_expr                -> in_
?add_expr: mul_expr | add_expr ADD_OP mul_expr  -> binop
?mul_expr: unary | mul_expr MUL_OP unary        -> binop
?unary: postfix | ADD_OP unary                  -> unary
?postfix: atom
        | postfix "." name                      -> attr
        | postfix "[" expr "]"                  -> index
?atom: literal
     | name                                     -> ref
     | VARIABLE                                 -> var
     | NAME "(" [arg ("," arg)*] ")"            -> call
     | case
     | "(" expr ")"
     | "(" select _FROM expr (_WHERE expr)? ")" -> subquery
     | "[" [expr ("," expr)*] "]"               -> array
     | "{" [pair ("," pair)*] "}"               -> object
arg: expr                                       -> plain_arg
   | "*"                                        -> star_arg
   | expr _AS NAME                              -> cast_arg
pair: (STRING | NAME) ":" expr
case: _CASE expr? when+ (_ELSE expr)? _END
when: _WHEN expr _THEN expr
name: NAME
?literal: INT -> int_lit
        | DECIMAL -> dec_lit
        | STRING -> str_lit
        | _TRUE -> true_lit
        | _FALSE -> false_lit
        | _NULL -> null_lit

_SELECT.2: /select\b/i
_VALUE.2: /value\b/i
_FROM.2: /from\b/i
_WHERE.2: /where\b/i
_SET.2: /set\b/i
_AS.2: /as\b/i
_AND.2: /and\b/i
_OR.2: /or\b/i
_NOT.2: /not\b/i
_IN.2: /in\b/i
_CASE.2: /case\b/i
_WHEN.2: /when\b/i
_THEN.2: /then\b/i
_ELSE.2: /else\b/i
_END.2: /end\b/i
_TRUE.2: /true\b/i
_FALSE.2: /false\b/i
_NULL.2: /null\b/i

CMP_OP: "<>" | "!=" | "<=" | ">=" | "=" | "<" | ">"
ADD_OP: "+" | "-"
MUL_OP: "*" | "/" | "%"
NAME: /[A-Za-z_][A-Za-z0-9_]*/
VARIABLE: /@[A-Za-z_][A-Za-z0-9_]*/
DECIMAL.1: /(\d+\.\d*|\.\d+)([eE][+-]?\d+)?/ | /\d+[eE][+-]?\d+/
INT: /\d+/
STRING: /'(\\.|[^'\\])*'/ | /"(\\.|[^"\\])*"/

%import common.WS
%ignore WS
"""

CAST_TYPES = frozenset({"int", "decimal", "string", "boolean", "bool"})


class SqlError(ConfigError):
    """A rule's SQL (or a substitution template) does not parse."""

    def __init__(self, message: str, *, line: int | None = None,
                 column: int | None = None) -> None:
        where = f" at line {line}, column {column}" if line is not None else ""
        super().__init__(f"{message}{where}")
        self.line = line
        self.column = column


def _unquote(tok: str) -> str:
    quote, body = tok[0], tok[1:-1]
    if "\\" not in body:
        return body
    if quote == "'":
        # Reuse JSON's escape rules; a lone \' is the quote itself.
        body = body.replace("\\'", "'").replace('"', '\\"')
    try:
        return str(json.loads(f'"{body}"'))
    except ValueError:
        return body.replace("\\\\", "\\")


def _name(tok: Token | str) -> str:
    return str(tok)


@dataclass(frozen=True, slots=True)
class ParsedStatement:
    sets: tuple[tuple[str, ast.Expr], ...]
    select: ast.Select
    topic_filter: str
    where: ast.Expr | None


@v_args(inline=True)
class _Build(Transformer[Token, Any]):
    def __init__(self, known_functions: frozenset[str]) -> None:
        super().__init__()
        self._known = known_functions

    def start(self, st: ParsedStatement) -> ParsedStatement:
        return st

    def expr_start(self, e: ast.Expr) -> ast.Expr:
        return e

    def statement(self, *parts: Any) -> ParsedStatement:
        sets: list[tuple[str, ast.Expr]] = []
        i = 0
        while isinstance(parts[i], list):
            sets.extend(parts[i])
            i += 1
        select, topic = parts[i], _unquote(str(parts[i + 1]))
        where = parts[i + 2] if len(parts) > i + 2 else None
        return ParsedStatement(tuple(sets), select, topic, where)

    def set_clause(self, *assignments: tuple[str, ast.Expr]) -> list[tuple[str, ast.Expr]]:
        return list(assignments)

    def assignment(self, var: Token, e: ast.Expr) -> tuple[str, ast.Expr]:
        return (str(var)[1:], e)

    def select_value(self, e: ast.Expr) -> ast.Select:
        return ast.Select(True, (ast.SelectItem(e, None),))

    def select_value_star(self) -> ast.Select:
        return ast.Select(True, (ast.SelectItem(ast.Star(), None),))

    def select_items(self, *items: ast.SelectItem) -> ast.Select:
        return ast.Select(False, items)

    def star_item(self) -> ast.SelectItem:
        return ast.SelectItem(ast.Star(), None)

    def expr_item(self, e: ast.Expr, alias: str | None = None) -> ast.SelectItem:
        return ast.SelectItem(e, alias)

    def alias(self, tok: Token) -> str:
        return _unquote(str(tok)) if tok.type == "STRING" else _name(tok)

    def name(self, tok: Token) -> str:
        return _name(tok)

    def or_(self, a: ast.Expr, b: ast.Expr) -> ast.Expr:
        return ast.Binary("or", a, b)

    def and_(self, a: ast.Expr, b: ast.Expr) -> ast.Expr:
        return ast.Binary("and", a, b)

    def not_(self, a: ast.Expr) -> ast.Expr:
        return ast.Unary("not", a)

    def compare(self, a: ast.Expr, op: Token, b: ast.Expr) -> ast.Expr:
        return ast.Binary("<>" if str(op) == "!=" else str(op), a, b)

    def in_(self, a: ast.Expr, b: ast.Expr) -> ast.Expr:
        return ast.Binary("in", a, b)

    def binop(self, a: ast.Expr, op: Token, b: ast.Expr) -> ast.Expr:
        return ast.Binary(str(op), a, b)

    def unary(self, op: Token, a: ast.Expr) -> ast.Expr:
        if str(op) == "-" and isinstance(a, ast.Literal) and isinstance(a.value, (int, float)):
            return ast.Literal(num(-a.value))
        return ast.Unary(str(op), a)

    def attr(self, base: ast.Expr, name: str) -> ast.Expr:
        return ast.Attr(base, name)

    def index(self, base: ast.Expr, i: ast.Expr) -> ast.Expr:
        return ast.Index(base, i)

    def ref(self, name: str) -> ast.Expr:
        return ast.Ref(name)

    def var(self, tok: Token) -> ast.Expr:
        return ast.Var(str(tok)[1:])

    def call(self, fname: Token, *args: Any) -> ast.Expr:
        lname = str(fname).lower()
        real = tuple(a for a in args if a is not None)
        if lname == "cast":
            if len(real) != 1 or not isinstance(real[0], tuple):
                raise _Semantic("cast() takes one argument: cast(expression AS type)", fname)
            e, typ = real[0]
            if typ.lower() not in CAST_TYPES:
                raise _Semantic(f"cast() to unknown type {typ!r}", fname)
            return ast.Cast(e, typ.lower())
        if lname not in self._known:
            raise _Semantic(f"unknown function {str(fname)}()", fname)
        if any(isinstance(a, tuple) for a in real):
            raise _Semantic(f"'AS' is only valid inside cast(), not {str(fname)}()", fname)
        return ast.Call(lname, real)

    def plain_arg(self, e: ast.Expr) -> ast.Expr:
        return e

    def star_arg(self) -> ast.Expr:
        return ast.Star()

    def cast_arg(self, e: ast.Expr, typ: Token) -> tuple[ast.Expr, str]:
        return (e, str(typ))

    def subquery(self, select: ast.Select, source: ast.Expr,
                 where: ast.Expr | None = None) -> ast.Expr:
        return ast.Subquery(select, source, where)

    def array(self, *items: ast.Expr | None) -> ast.Expr:
        return ast.ArrayLit(tuple(i for i in items if i is not None))

    def object(self, *pairs: tuple[str, ast.Expr] | None) -> ast.Expr:
        return ast.ObjectLit(tuple(p for p in pairs if p is not None))

    def pair(self, key: Token, e: ast.Expr) -> tuple[str, ast.Expr]:
        return (_unquote(str(key)) if key.type == "STRING" else str(key), e)

    def case(self, *parts: Any) -> ast.Expr:
        subject: ast.Expr | None = None
        whens: list[tuple[ast.Expr, ast.Expr]] = []
        default: ast.Expr | None = None
        seen_when = False
        for p in parts:
            if isinstance(p, _When):
                whens.append((p.cond, p.result))
                seen_when = True
            elif not seen_when:
                subject = p
            else:
                default = p
        return ast.Case(subject, tuple(whens), default)

    def when(self, cond: ast.Expr, result: ast.Expr) -> _When:
        return _When(cond, result)

    def int_lit(self, tok: Token) -> ast.Expr:
        return ast.Literal(int(str(tok)))

    def dec_lit(self, tok: Token) -> ast.Expr:
        return ast.Literal(num(float(str(tok))))

    def str_lit(self, tok: Token) -> ast.Expr:
        return ast.Literal(_unquote(str(tok)))

    def true_lit(self) -> ast.Expr:
        return ast.Literal(True)

    def false_lit(self) -> ast.Expr:
        return ast.Literal(False)

    def null_lit(self) -> ast.Expr:
        return ast.Literal(None)


@dataclass(frozen=True, slots=True)
class _When:
    cond: ast.Expr
    result: ast.Expr


class _Semantic(Exception):
    def __init__(self, message: str, tok: Token) -> None:
        super().__init__(message)
        self.line = tok.line
        self.column = tok.column


@cache
def _lark() -> Lark:
    # Built on first use (about 0.2 s), not at import.
    return Lark(GRAMMAR, parser="lalr", lexer="contextual", start=["start", "expr_start"],
                propagate_positions=False, maybe_placeholders=True)


def _describe(exc: UnexpectedInput, text: str) -> str:
    if isinstance(exc, UnexpectedCharacters):
        pos = exc.pos_in_stream or 0
        return f"unexpected character {text[pos:pos + 1]!r}"
    tok = getattr(exc, "token", None)
    if tok is None or tok.type == "$END":
        return "unexpected end of input"
    return f"unexpected {str(tok)!r}"


def _parse(text: str, start: str, known: frozenset[str]) -> Any:
    try:
        tree = _lark().parse(text, start=start)
        return _Build(known).transform(tree)
    except UnexpectedInput as exc:
        raise SqlError(_describe(exc, text), line=exc.line, column=exc.column) from None
    except VisitError as exc:
        orig = exc.orig_exc
        if isinstance(orig, _Semantic):
            raise SqlError(str(orig), line=orig.line, column=orig.column) from None
        raise SqlError(f"invalid SQL: {orig}") from None
    except (LarkError, RecursionError) as exc:
        raise SqlError(f"invalid SQL: {exc.__class__.__name__}") from None


def parse_statement(sql: str, known: frozenset[str]) -> ParsedStatement:
    st: ParsedStatement = _parse(sql, "start", known)
    return st


def parse_expression(text: str, known: frozenset[str]) -> ast.Expr:
    e: ast.Expr = _parse(text, "expr_start", known)
    return e
