"""A finding of the alias-bypass audit, and how findings are printed."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass

OUTPUTS = ("table", "json")
DEFAULT_ALIAS = "live"


@dataclass(frozen=True)
class Finding:
    """Something that invokes a function under canary without going through its alias."""

    resource: str  # logical id, Terraform address or ARN
    kind: str  # e.g. "event source mapping", "SNS subscription"
    function: str  # the function it reaches without the alias
    location: str  # "template.yaml:42", "main.tf:7" or an ARN
    fix: str  # what to write instead, concretely


_COLUMNS = ("resource", "kind", "function", "location", "fix")


def render(findings: Sequence[Finding], output: str) -> str:
    """The findings as an aligned plain-text table ("table") or as JSON ("json", a list of objects)."""
    if output == "json":
        return json.dumps([asdict(finding) for finding in findings], indent=2)
    if output != "table":
        raise ValueError(f"output {output!r}: write table or json")
    if not findings:
        return "No caller bypasses the alias."
    rows = [tuple(column.upper() for column in _COLUMNS)]
    rows += [tuple(_printable(getattr(finding, column)) for column in _COLUMNS) for finding in findings]
    widths = [max(len(row[index]) for row in rows) for index in range(len(_COLUMNS) - 1)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)) + "  " + row[-1] for row in rows
    ]
    lines.append(f"\n{len(findings)} caller(s) bypass the alias: a canary does not see their traffic.")
    return "\n".join(line.rstrip() if line.strip() else line for line in lines)


def _printable(text: str) -> str:
    """Names read from an account can hold anything (an S3 notification's Id): no control character reaches the
    terminal (JSON output escapes them)."""
    return "".join(character if character.isprintable() else "?" for character in text)


def by_location(finding: Finding) -> tuple[str, int, str]:
    """Findings in file order: by file, then line (an ARN location sorts by itself)."""
    file, _, line = finding.location.rpartition(":")
    return (file, int(line), finding.resource) if line.isdigit() else (finding.location, 0, finding.resource)
