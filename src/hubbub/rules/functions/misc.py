"""Context functions (who, where, when), type tests, ``get`` and ``transform``."""

from __future__ import annotations

from typing import Any

from hubbub.rules.context import MessageContext
from hubbub.rules.functions.registry import register
from hubbub.rules.values import UNDEFINED, to_int

SQL_VERSION = "2016-03-23"


@register("clientid", 0, context=True)
def _clientid(ctx: MessageContext) -> Any:
    # IoT Core returns "n/a" when the message did not come from an MQTT client.
    return ctx.client_id if ctx.client_id is not None else "n/a"


@register("principal", 0, context=True)
def _principal(ctx: MessageContext) -> Any:
    return ctx.principal if ctx.principal is not None else UNDEFINED


@register("accountid", 0, context=True)
def _accountid(ctx: MessageContext) -> Any:
    return ctx.account_id if ctx.account_id is not None else UNDEFINED


@register("traceid", 0, context=True)
def _traceid(ctx: MessageContext) -> Any:
    return ctx.trace_id if ctx.trace_id is not None else UNDEFINED


@register("sourceip", 0, context=True)
def _sourceip(ctx: MessageContext) -> Any:
    return ctx.source_ip if ctx.source_ip is not None else UNDEFINED


@register("timestamp", 0, context=True)
def _timestamp(ctx: MessageContext) -> Any:
    return ctx.timestamp_ms


@register("newuuid", 0, context=True)
def _newuuid(ctx: MessageContext) -> Any:
    return ctx.newuuid()


@register("sql_version", 0)
def _sql_version() -> Any:
    return SQL_VERSION


@register("topic", 0, 1, context=True)
def _topic(ctx: MessageContext, n: Any = None) -> Any:
    topic = ctx.rule_topic
    if n is None:
        return topic
    i = to_int(n)
    levels = topic.split("/")
    if i is UNDEFINED or not 1 <= i <= len(levels):  # 1-based
        return UNDEFINED
    return levels[i - 1]


@register("isundefined", 1)
def _isundefined(v: Any) -> Any:
    return v is UNDEFINED


@register("isnull", 1)
def _isnull(v: Any) -> Any:
    return v is None


@register("get", 2)
def _get(coll: Any, key: Any) -> Any:
    if isinstance(coll, dict):
        return coll.get(key, UNDEFINED) if isinstance(key, str) else UNDEFINED
    if isinstance(coll, (list, str)):
        i = to_int(key)
        if i is UNDEFINED or not 0 <= i < len(coll):  # 0-based, like the array example
            return UNDEFINED
        return coll[i]
    return UNDEFINED


@register("transform", 3)
def _transform(mode: Any, obj: Any, arr: Any) -> Any:
    # "enrichArray": every Object of the Array gets the Object's members added.
    if not isinstance(mode, str) or mode != "enrichArray":
        return UNDEFINED
    if not isinstance(obj, dict) or not isinstance(arr, list):
        return UNDEFINED
    return [{**el, **obj} for el in arr if isinstance(el, dict)]
