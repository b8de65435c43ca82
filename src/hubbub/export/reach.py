"""What a function can reach through ``hubbub.functions.sdk``, read from its source.

Least privilege per function: the export follows the handler through the application's
own code (functions and classes it names, in its module and in the modules it imports
relatively from the application folder, plus those modules' top-level code) and collects
the sdk calls met on the way. A call whose target is a string literal
(``sdk.table("chat")``) grants that target only; a computed target, or an sdk function
passed around, grants every target of its kind in the application; the ``sdk`` module
itself passed around, a handler or module that cannot be read, or ``import *`` from the
sdk grant everything. Code that calls boto3 directly is not seen (grant it yourself).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

#: The sdk's calls (hubbub.functions.sdk) that need AWS permissions.
SDK_CALLS = ("publish", "table", "put_record", "start_execution", "create_state_machine",
             "invoke")
#: The parameter naming each call's target, for calls that pass it by keyword.
_TARGET_KEYWORD = {"publish": "topic", "table": "name", "put_record": "stream",
                   "start_execution": "state_machine", "create_state_machine": "name",
                   "invoke": "function"}
_SDK_MODULE = "hubbub.functions.sdk"

Ref = tuple[str, str]  # (module, top-level name)


@dataclass
class Reach:
    """Per sdk call: the literal targets seen, or ``None`` for "any"; absent: never called."""

    calls: dict[str, set[str] | None] = field(default_factory=dict)

    def add(self, call: str, target: str | None) -> None:
        seen = self.calls.get(call, set())
        if seen is not None:
            self.calls[call] = None if target is None else seen | {target}

    def everything(self) -> Reach:
        self.calls = {c: None for c in SDK_CALLS}
        return self

    def targets(self, call: str) -> set[str] | None:
        """Targets of ``call`` (``None``: any); empty when it is never called."""
        return self.calls.get(call, set())

    def uses(self, call: str) -> bool:
        return call in self.calls


@dataclass
class _Module:
    name: str
    defs: dict[str, ast.AST]  # top-level functions and classes
    top: list[ast.stmt]  # everything else at top level (runs at import)
    sdk_names: set[str] = field(default_factory=set)
    direct: dict[str, str] = field(default_factory=dict)  # local name -> sdk function
    modules: dict[str, str] = field(default_factory=dict)  # alias -> app module
    names: dict[str, Ref] = field(default_factory=dict)  # local name -> (module, name)


class _Reader:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._cache: dict[str, _Module | None] = {}

    def file(self, dotted: str) -> Path | None:
        base = self.root.joinpath(*dotted.split("."))
        for candidate in (base.with_suffix(".py"), base / "__init__.py"):
            if candidate.is_file():
                return candidate
        return None

    def module(self, dotted: str) -> _Module | None:
        if dotted not in self._cache:
            self._cache[dotted] = self._read(dotted)
        return self._cache[dotted]

    def _read(self, dotted: str) -> _Module | None:
        path = self.file(dotted)
        if path is None:
            return None
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        except (OSError, SyntaxError, ValueError):
            return None
        defs = {n.name: n for n in tree.body
                if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
        m = _Module(dotted, dict(defs), [n for n in tree.body if n not in defs.values()])
        package = dotted.split(".") if path.name == "__init__.py" else dotted.split(".")[:-1]
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                m.sdk_names |= {a.asname for a in node.names
                                if a.name == _SDK_MODULE and a.asname}
            elif isinstance(node, ast.ImportFrom):
                self._import_from(m, node, package)
        return m

    def _import_from(self, m: _Module, node: ast.ImportFrom, package: list[str]) -> None:
        if node.level == 0:
            if node.module == "hubbub.functions":
                m.sdk_names |= {a.asname or a.name for a in node.names if a.name == "sdk"}
            elif node.module == _SDK_MODULE:
                m.direct.update({a.asname or a.name: a.name for a in node.names})
            return
        if node.level - 1 > len(package):
            return  # above the application folder: not the application's code
        base = package[:len(package) - (node.level - 1)] + (
            node.module.split(".") if node.module else [])
        for a in node.names:
            local = a.asname or a.name
            sub = ".".join([*base, a.name])
            if self.file(sub) is not None:
                m.modules[local] = sub
            elif base:
                m.names[local] = (".".join(base), a.name)


class _Scanner(ast.NodeVisitor):
    """Records sdk calls in a subtree and the application names it refers to."""

    def __init__(self, m: _Module, reach: Reach) -> None:
        self.m = m
        self.reach = reach
        self.refs: list[Ref] = []

    def _sdk_function(self, f: ast.AST) -> str | None:
        if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) \
                and f.value.id in self.m.sdk_names:
            return f.attr
        if isinstance(f, ast.Name) and f.id in self.m.direct:
            return self.m.direct[f.id]
        return None

    def visit_Call(self, node: ast.Call) -> None:
        call = self._sdk_function(node.func)
        if call is None:
            self.generic_visit(node)
            return
        if call in SDK_CALLS:
            target: ast.expr | None = node.args[0] if node.args else None
            for k in node.keywords:
                if k.arg == _TARGET_KEYWORD[call]:
                    target = k.value
            literal = target.value if isinstance(target, ast.Constant) else None
            self.reach.add(call, literal if isinstance(literal, str) else None)
        for arg in [*node.args, *(k.value for k in node.keywords)]:
            self.visit(arg)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        call = self._sdk_function(node)
        if call is not None:
            if call in SDK_CALLS:  # sdk.table stored or passed around: any target
                self.reach.add(call, None)
            return
        if isinstance(node.value, ast.Name) and node.value.id in self.m.modules:
            self.refs.append((self.m.modules[node.value.id], node.attr))
            return
        self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        name = node.id
        if name in self.m.sdk_names:
            self.reach.everything()  # the module itself escapes: anything goes
        elif name in self.m.direct:
            if self.m.direct[name] in SDK_CALLS:  # stored or passed around: any target
                self.reach.add(self.m.direct[name], None)
        elif name in self.m.defs:
            self.refs.append((self.m.name, name))
        elif name in self.m.names:
            self.refs.append(self.m.names[name])
        elif name in self.m.modules:  # a module object escapes: all of its code
            self.refs.append((self.m.modules[name], "*"))


def reach_of(app_root: Path, handler: str) -> Reach:
    """What the handler ``module:attr`` of the application in ``app_root`` can reach."""
    reader = _Reader(app_root)
    reach = Reach()
    module, _, attr = handler.partition(":")
    start = reader.module(module)
    if start is None or attr not in start.defs:
        return reach.everything()  # cannot read it: grant all rather than break it
    todo: list[Ref] = [(module, attr)]
    seen: set[Ref] = set()
    imported: set[str] = set()
    while todo:
        ref = todo.pop()
        if ref in seen:
            continue
        seen.add(ref)
        m = reader.module(ref[0])
        if m is None:
            if reader.file(ref[0]) is not None:
                return reach.everything()  # an application module that does not parse
            continue
        if "*" in m.direct:
            return reach.everything()  # from hubbub.functions.sdk import *
        nodes: list[ast.AST] = []
        if m.name not in imported:  # its top-level code runs when it is imported
            imported.add(m.name)
            nodes += m.top
        if ref[1] == "*":
            nodes += list(m.defs.values())
        elif ref[1] in m.defs:
            nodes.append(m.defs[ref[1]])
        elif ref[1] in m.names:
            todo.append(m.names[ref[1]])  # re-exported from another module
        for node in nodes:
            scanner = _Scanner(m, reach)
            scanner.visit(node)
            todo += scanner.refs
    return reach
