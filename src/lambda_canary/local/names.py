"""How a Lambda function is named in a call: fn, fn:live, 123456789012:function:fn[:live] or its ARN."""

from __future__ import annotations


def function_name_and_qualifier(function_name: str, qualifier: str | None = None) -> tuple[str, str | None]:
    """("fn", "live") from any of the forms; a qualifier in the name wins over `qualifier`."""
    name = function_name.split(":function:")[-1]
    if ":" in name:
        name, qualifier = name.split(":", 1)
    return name, qualifier
