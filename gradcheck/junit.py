"""JUnit XML, the test report CI systems show (GitLab, Jenkins, GitHub test reporters): one writer for
``gradcheck grade --format junit`` (a suite per exercise, a test case per quantity) and
``gradcheck sweep --junit FILE`` (a test case per configuration).

The shape written (the common subset every consumer reads)::

    <testsuites name=".." tests="N" failures="F" errors="E" time="s">
      <testsuite name=".." tests="n" failures="f" errors="e" skipped="0" time="s">
        <testcase name=".." classname=".." time="s">
          <failure message="one line" type="..">details</failure>   (a wrong result)
          <error message="one line" type="..">details</error>       (no result: a timeout, a crash)
        </testcase>
      </testsuite>
    </testsuites>
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

# XML 1.0 cannot hold most control characters; a verdict or a student's answer may contain them
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


@dataclass
class Case:
    name: str
    classname: str
    time: float = 0.0
    failure: tuple[str, str, str] | None = None    # (type, message, details)
    error: tuple[str, str, str] | None = None


@dataclass
class Suite:
    name: str
    cases: list = field(default_factory=list)


def _clean(text: str) -> str:
    return _NOT_XML.sub("?", str(text))


def to_xml(name: str, suites: list[Suite]) -> str:
    """The JUnit XML document of ``suites``, as text."""
    def counts(cases):
        return {"tests": str(len(cases)), "failures": str(sum(c.failure is not None for c in cases)),
                "errors": str(sum(c.error is not None for c in cases)),
                "time": f"{sum(c.time for c in cases):.3f}"}
    every = [c for s in suites for c in s.cases]
    root = ET.Element("testsuites", {"name": _clean(name), **counts(every)})
    for suite in suites:
        node = ET.SubElement(root, "testsuite", {"name": _clean(suite.name), "skipped": "0", **counts(suite.cases)})
        for case in suite.cases:
            tc = ET.SubElement(node, "testcase", {"name": _clean(case.name), "classname": _clean(case.classname),
                                                  "time": f"{case.time:.3f}"})
            for tag, what in (("failure", case.failure), ("error", case.error)):
                if what is not None:
                    kind, message, details = what
                    ET.SubElement(tc, tag, {"type": _clean(kind), "message": _clean(" ".join(message.split()))}
                                  ).text = _clean(details)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")


def sweep_xml(layer: str, rows: dict) -> str:
    """A sweep's rows (``gradcheck.sweep`` results) as JUnit XML: a test case per configuration; a failed
    row is a failure (the oracles disagree), a timed-out or crashed one an error (no verdict)."""
    cases = []
    for row in rows.values():
        case = Case(row["id"], f"gradcheck.sweep.{layer}", float(row.get("seconds") or 0.0))
        status, verdict = row["status"], row.get("verdict", "")
        if status == "failed":
            case.failure = ("disagreement", verdict.splitlines()[0] if verdict else "failed", verdict)
        elif status != "ok":
            case.error = (status, f"{status} (seed {row.get('seed')})", verdict or status)
        cases.append(case)
    return to_xml(f"gradcheck sweep {layer}", [Suite(layer, cases)])


__all__ = ["Case", "Suite", "sweep_xml", "to_xml"]
