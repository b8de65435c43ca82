"""``parse_time`` and ``time_to_epoch``: Joda-Time / java.time date patterns.

Supported letters: G y Y u M L d D E a H k K h m s S z Z X x V and quoted 'text'.
Time zones are IANA names (zoneinfo), ``UTC``/``GMT``/``Z``, or offsets such as
``UTC+01:00`` and ``+0530``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from hubbub.rules.functions.registry import register
from hubbub.rules.values import UNDEFINED, to_decimal

_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December"]
_DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
_OFFSET_RE = re.compile(r"(?:UTC|GMT|UT)?([+-])(\d{1,2}):?(\d{2})?(?::?(\d{2}))?\Z")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TOKEN_RE = re.compile(r"'((?:[^']|'')*)'|([A-Za-z])\2*|(.)", re.S)


def zone(name: str) -> tzinfo:
    """A zone from an IANA name or an offset; ``ValueError`` if unknown."""
    if name in ("UTC", "GMT", "Z", "UT"):
        return UTC
    m = _OFFSET_RE.match(name)
    if m:
        sign = -1 if m.group(1) == "-" else 1
        delta = timedelta(hours=int(m.group(2)), minutes=int(m.group(3) or 0),
                          seconds=int(m.group(4) or 0))
        return timezone(sign * delta)
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc


def _tokens(pattern: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for m in _TOKEN_RE.finditer(pattern):
        if m.group(1) is not None:
            out.append(("lit", m.group(1).replace("''", "'") or "'"))
        elif m.group(2) is not None:
            out.append(("field", m.group(0)))
        else:
            out.append(("lit", m.group(3)))
    return out


def _offset_text(dt: datetime, colon: bool) -> str:
    off = dt.utcoffset() or timedelta(0)
    total = int(off.total_seconds())
    sign = "-" if total < 0 else "+"
    h, m = divmod(abs(total) // 60, 60)
    return f"{sign}{h:02d}{':' if colon else ''}{m:02d}"


def _format_field(f: str, dt: datetime) -> str:
    c, n = f[0], len(f)
    if c in "yYu":
        return f"{dt.year % 100:02d}" if n == 2 else f"{dt.year:0{n}d}"
    if c in "ML":
        return _MONTHS[dt.month - 1][:3 if n == 3 else None] if n >= 3 else f"{dt.month:0{n}d}"
    simple = {"d": dt.day, "H": dt.hour, "m": dt.minute, "s": dt.second,
              "D": dt.timetuple().tm_yday, "k": dt.hour or 24, "K": dt.hour % 12,
              "h": dt.hour % 12 or 12}
    if c in simple:
        return f"{simple[c]:0{n}d}"
    if c == "S":
        return f"{dt.microsecond // 1000:03d}"[:n].ljust(n, "0")
    if c == "G":
        return "AD"
    if c == "a":
        return "AM" if dt.hour < 12 else "PM"
    if c == "E":
        name = _DAYS[dt.weekday()]
        return name if n >= 4 else name[:3]
    if c == "z":
        if n >= 4:
            return str(getattr(dt.tzinfo, "key", dt.tzname()))
        return dt.tzname() or "UTC"
    if c == "Z":
        return _offset_text(dt, colon=n == 2) if n < 3 else str(getattr(dt.tzinfo, "key", "UTC"))
    if c in "Xx":
        if c == "X" and not dt.utcoffset():
            return "Z"
        return _offset_text(dt, colon=n >= 3)
    if c == "V":
        return str(getattr(dt.tzinfo, "key", dt.tzname()))
    raise ValueError(f"unsupported pattern letter {c!r}")


def format_time(pattern: str, epoch_ms: int, tz: tzinfo) -> str:
    dt = datetime.fromtimestamp(epoch_ms / 1000, tz)
    return "".join(v if kind == "lit" else _format_field(v, dt) for kind, v in _tokens(pattern))


_NUMERIC_GROUPS = {"y": "year", "Y": "year", "u": "year", "M": "month", "L": "month",
                   "d": "day", "H": "hour", "k": "hour", "h": "hour12", "K": "hour12",
                   "m": "minute", "s": "second", "S": "fraction", "D": "yday"}


def _field_regex(f: str) -> str:
    c, n = f[0], len(f)
    if c in "ML" and n >= 3:
        return "(?P<monthname>[A-Za-z]+)"
    if c == "E":
        return "[A-Za-z]+"
    if c in "GaZXxVz":
        text_group = {"G": "era", "a": "ampm"}.get(c, "zone")
        return rf"(?P<{text_group}>[A-Za-z0-9_/:+\-]+)"
    group = _NUMERIC_GROUPS.get(c)
    if group is None:
        raise ValueError(f"unsupported pattern letter {c!r}")
    if c in "yYu" and n != 2:
        width = r"\d+"
    elif c == "S":
        width = rf"\d{{{n}}}"
    else:
        width = rf"\d{{1,{max(n, 2)}}}"
    return f"(?P<{group}>{width})"


def parse_epoch_ms(text: str, pattern: str) -> int:
    regex = "".join(re.escape(v) if kind == "lit" else _field_regex(v)
                    for kind, v in _tokens(pattern))
    m = re.fullmatch(regex, text.strip())
    if m is None:
        raise ValueError("text does not match the pattern")
    g = m.groupdict()
    month = int(g["month"]) if g.get("month") else 1
    if g.get("monthname"):
        names = [x.lower() for x in _MONTHS]
        key = g["monthname"].lower()
        month = next(i for i, x in enumerate(names) if x == key or x[:3] == key) + 1
    hour = int(g.get("hour") or 0)
    if g.get("hour12"):
        hour = int(g["hour12"]) % 12 + (12 if (g.get("ampm") or "").upper() == "PM" else 0)
    frac = g.get("fraction") or "0"
    micro = int(frac.ljust(6, "0")[:6])
    tz = zone(g["zone"]) if g.get("zone") else UTC
    dt = datetime(int(g.get("year") or 1970), month, int(g.get("day") or 1), hour,
                  int(g.get("minute") or 0), int(g.get("second") or 0), micro, tzinfo=tz)
    return (dt - _EPOCH) // timedelta(milliseconds=1)


@register("parse_time", 2, 3)
def _parse_time(pattern: Any, ts: Any, tz: Any = "UTC") -> Any:
    ms = to_decimal(ts)
    if not isinstance(pattern, str) or ms is UNDEFINED or not isinstance(tz, str):
        return UNDEFINED
    return format_time(pattern, int(ms), zone(tz))


@register("time_to_epoch", 2)
def _time_to_epoch(text: Any, pattern: Any) -> Any:
    if not isinstance(text, str) or not isinstance(pattern, str):
        return UNDEFINED
    return parse_epoch_ms(text, pattern)
