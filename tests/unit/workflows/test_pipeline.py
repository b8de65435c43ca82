"""Functional pipelines: text and builder, translation to ASL, and real lazy evaluation."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hubbub.workflows import StateMachine, pipeline, validate_definition
from hubbub.workflows.core import RunTask
from hubbub.workflows.pipeline import PipelineError, parse, source, translate

FUNCS: dict[str, Any] = {
    "words": lambda m: m["text"].split(),
    "by_ann": lambda m: m["user"] == "ann",
    "is_even": lambda x: x % 2 == 0,
    "double": lambda x: 2 * x,
    "add": lambda d: d["acc"] + d["item"],
}


class Tasks:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def __call__(self, req: RunTask) -> Any:
        name = req.resource.rsplit(":", 1)[-1]
        self.calls.append(name)
        return FUNCS[name](req.input)


def run(p: Any, data: dict[str, Any], **kw: Any) -> tuple[Any, Tasks, list[str]]:
    defn = translate(p, **kw)
    assert validate_definition(defn) == []
    tasks = Tasks()
    ex = StateMachine.from_definition(defn).run_sync(data, tasks)
    assert ex.status == "SUCCEEDED", (ex.error, ex.cause)
    return ex.output, tasks, [e["type"] for e in ex.history.events]


HISTORY = [{"user": "ann", "text": "a b a"}, {"user": "bob", "text": "c a"},
           {"user": "ann", "text": "c a b"}]


def test_the_talks_example() -> None:
    out, _, _ = run("count(xs)", {"xs": ["a", "b", "a", "c", "a", "b"]})
    assert out == {"a": 3, "b": 2, "c": 1}


def test_text_and_builder_agree_and_print_back() -> None:
    text = "count(map(words, filter(by_ann, history)))"
    built = source("history").filter("by_ann").map("words").count()
    assert parse(text) == built.node
    assert str(built) == text
    assert translate(text) == translate(built)
    out, tasks, _ = run(built, {"history": HISTORY})
    assert out == {"a": 3, "b": 2, "c": 1}
    # bob's message is filtered out, so words never runs on it
    assert tasks.calls.count("by_ann") == 3 and tasks.calls.count("words") == 2


def test_lazy_take_stops_once_it_has_enough() -> None:
    out, tasks, events = run("take(3, filter(is_even, xs))", {"xs": list(range(1000))})
    assert out == [0, 2, 4]
    assert len(tasks.calls) == 6  # two chunks of three, not a thousand items
    assert events.count("TaskScheduled") == 6
    assert events.count("MapStateEntered") == 2


def test_lazy_take_through_map_skips_unneeded_work() -> None:
    out, tasks, _ = run("take(2, map(double, filter(is_even, xs)))", {"xs": list(range(50))},
                        chunk_size=4)
    assert out == [0, 4]
    assert tasks.calls.count("is_even") == 4 and tasks.calls.count("double") == 2


def test_take_more_than_there_is_and_take_zero() -> None:
    assert run("take(5, filter(is_even, xs))", {"xs": [1, 2, 3]})[0] == [2]
    out, tasks, _ = run("take(0, map(double, xs))", {"xs": [1, 2, 3]})
    assert out == [] and tasks.calls == []


def test_reduce_sort_and_empty_inputs() -> None:
    assert run("reduce(add, 0, xs)", {"xs": [1, 2, 3, 4]})[0] == 10
    assert run("reduce(add, 5, xs)", {"xs": []})[0] == 5
    assert run("sort(xs)", {"xs": [3, 1, 2]})[0] == [1, 2, 3]
    assert run("count(xs)", {"xs": []})[0] == {}
    assert run("map(double, xs)", {"xs": []})[0] == []
    top = run("take(2, sort(count(map(words, history))))", {"history": HISTORY})[0]
    assert top == [{"key": "a", "count": 4}, {"key": "b", "count": 2}]


def test_resources_can_be_lambda_arns() -> None:
    arn = "arn:aws:lambda:us-east-1:123456789012:function:{}".format
    defn = translate("map(double, xs)", resource=arn)
    assert "arn:aws:lambda:us-east-1:123456789012:function:double" in str(defn)
    assert run("map(double, xs)", {"xs": [1, 2]}, resource=arn)[0] == [2, 4]


@pytest.mark.parametrize("text,where", [
    ("", "expected a name"),
    ("count(", "expected a name"),
    ("count(xs", "expected ')'"),
    ("count(xs))", "unexpected ')'"),
    ("nope(xs)", "unknown operation 'nope'"),
    ("map(xs)", "map takes 2 argument(s)"),
    ("take(-1, xs)", "take needs a count"),
    ("take(x, xs)", "take needs a count"),
    ("map(3, xs)", "needs a function name"),
    ("count(3)", "must be a pipeline"),
    ("count(xs) @", "unexpected character '@'"),
])
def test_bad_text_gives_a_clear_error(text: str, where: str) -> None:
    with pytest.raises(PipelineError, match=where.replace("(", r"\(").replace(")", r"\)")):
        parse(text)


def test_bad_builder_use() -> None:
    with pytest.raises(PipelineError):
        source("map")
    with pytest.raises(PipelineError):
        source("xs").take(-2)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(-50, 50), max_size=30), st.integers(0, 6))
def test_pipelines_agree_with_python(xs: list[int], n: int) -> None:
    evens = [x for x in xs if x % 2 == 0]
    assert run("map(double, filter(is_even, xs))", {"xs": xs})[0] == [2 * x for x in evens]
    assert run(f"take({n}, filter(is_even, xs))", {"xs": xs})[0] == evens[:n]
    counted = run("count(xs)", {"xs": [str(x) for x in xs]})[0]
    assert counted == dict(Counter(str(x) for x in xs))


def test_module_exposes_parse_and_translate() -> None:
    assert pipeline.parse is parse and pipeline.translate is translate
