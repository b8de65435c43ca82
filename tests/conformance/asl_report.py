"""Pass rate of the ASL conformance cases by feature, as Markdown.

    .venv/bin/python tests/conformance/asl_report.py           # print the report
    .venv/bin/python tests/conformance/asl_report.py --write   # also update docs/workflows.md

It judges cases exactly as tests/conformance/test_asl.py does (it imports it).
"""

from __future__ import annotations

import importlib
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DOC = HERE.parents[1] / "docs" / "workflows.md"
BEGIN, END = "<!-- asl-report:begin -->", "<!-- asl-report:end -->"


def _suite() -> Any:
    # import it as part of the tests package, as pytest does (it imports .locate)
    sys.path.insert(0, str(HERE.parents[1]))
    return importlib.import_module("tests.conformance.test_asl")


def report() -> str:
    t = _suite()
    cases = t.load_cases()
    if not cases:
        return f"conformance data not found at {t.CASES}\n"
    by_group: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    by_feature: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    by_feature_ts: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # TestState only
    failures: list[tuple[int, str, str]] = []
    skipped: dict[str, int] = defaultdict(int)
    for case in cases:
        reason = t.skip_reason(case)
        if reason:
            skipped[reason] += 1
            continue
        ok = t.passes(case)
        lang = "JSONata" if "jsonata" in case["features"] else "JSONPath"
        masked = ", masked" if case["expected_has_placeholders"] else ""
        if case["kind"] == "execution":
            where = "offline" if case["offline"] else "with tasks"
            group = f"execution, {where}, {lang}{masked}"
        elif case["kind"] == "test_state":
            mocked = "mocked" if "mock" in case["test_state_args"] else "not mocked"
            group = f"test_state, {mocked}, {lang}{masked}"
        else:
            group = case["kind"]
        for key, table in ((group, by_group), *((f, by_feature) for f in case["features"])):
            table[key][0] += ok
            table[key][1] += 1
        by_group["all judged"][0] += ok
        by_group["all judged"][1] += 1
        total = "all TestState" if case["kind"] == "test_state" else \
            "all executions and definitions"
        by_group[total][0] += ok
        by_group[total][1] += 1
        if case["kind"] == "test_state":
            for key in ("all TestState", *case["features"]):
                by_feature_ts[key][0] += ok
                by_feature_ts[key][1] += 1
        if not ok:
            failures.append((case["id"], case["source"].split("::")[-1],
                             t.KNOWN.get(case["id"], "UNEXPLAINED")))
    lines = ["| cases | passed | total | rate |", "|---|---:|---:|---:|"]
    for key in sorted(by_group, key=lambda k: (k.startswith("all "), k == "all judged", k)):
        p, n = by_group[key]
        lines.append(f"| {key} | {p} | {n} | {100 * p / n:.1f}% |")
    lines += ["", "| feature | passed | total | rate |", "|---|---:|---:|---:|"]
    for key in sorted(by_feature):
        p, n = by_feature[key]
        lines.append(f"| `{key}` | {p} | {n} | {100 * p / n:.1f}% |")
    lines += ["", "TestState cases by feature:", "",
              "| feature | passed | total | rate |", "|---|---:|---:|---:|"]
    for key in sorted(by_feature_ts, key=lambda k: (k != "all TestState", k)):
        p, n = by_feature_ts[key]
        lines.append(f"| `{key}` | {p} | {n} | {100 * p / n:.1f}% |")
    hist = t.history_cases()
    same = sum(t.history_matches(c) for c in hist)
    lines += ["", f"Event histories (type, id, previousEventId of every event) equal to the "
              f"recording: {same} of {len(hist)} offline executions.", ""]
    hist_groups: dict[str, list[str]] = defaultdict(list)
    for cid, why in t.KNOWN_HISTORY.items():
        hist_groups[why].append(str(cid))
    lines += [f"- differs: {why}: {', '.join(ids)}" for why, ids in hist_groups.items()]
    if skipped:
        lines += ["", "Not judged:", ""]
        lines += [f"- {n} cases: {why}" for why, n in sorted(skipped.items())]
    lines += ["", f"Failing ({len(failures)}), each xfail(strict=True) in test_asl.py:", ""]
    grouped: dict[str, list[str]] = defaultdict(list)
    for cid, name, why in failures:
        grouped[why].append(f"{cid} `{name}`")
    for why, items in grouped.items():
        lines.append(f"- {why}: " + ", ".join(items))
    return "\n".join(lines) + "\n"


def main() -> None:
    text = report()
    print(text)
    if "--write" in sys.argv[1:]:
        doc = DOC.read_text()
        start, end = doc.index(BEGIN) + len(BEGIN), doc.index(END)
        DOC.write_text(doc[:start] + "\n" + text + doc[end:])


if __name__ == "__main__":
    main()
