"""Pydantic validation errors as the one sentence every crosshedge error is: file, dotted field path, what was
expected. Shared by chains.yaml (crosshedge.config) and the data files adapters read (recorded pool states).

Usage::

    try:
        Model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(path, exc)) from None
"""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError


def describe_validation_error(source: Path, exc: ValidationError, prefix: str = "") -> str:
    """One sentence for the first error (and a count of the rest): file, dotted field path, what was expected."""
    first = exc.errors()[0]
    loc = ".".join(str(p) for p in (*([prefix] if prefix else []), *first["loc"]))
    msg = first["msg"]
    if first["type"] == "extra_forbidden":
        msg = "unknown field (check the spelling; allowed fields are the model's documented ones)"
    elif first["type"] == "missing":
        msg = "required field is missing"
    else:
        # The value is quoted when it is a scalar: a whole list or mapping would bury the sentence.
        shown = "input" in first and not isinstance(first["input"], dict | list | tuple)
        msg = f"{msg}, got {first['input']!r}" if shown else msg
    more = exc.error_count() - 1
    tail = f" (and {more} more error{'s' if more > 1 else ''})" if more else ""
    return f"{source}: {loc or '<top>'}: {msg}{tail}"
