"""The pure workflow engine core: placeholders, condition expressions, validation.

Pure means no I/O, no clock, no randomness and no asyncio: callers pass every input in.
Modules here may import only the standard library, ``threadline.ids`` and
``threadline.errors`` (never ``threadline.config``, store, providers, api, service,
cli or worker); they work on the wire-form JSON dicts.
"""

from threadline.engine.expressions import (
    Expr,
    ExpressionSyntaxError,
    evaluate,
    hydrate_expression,
    parse_expression,
)
from threadline.engine.filters import MISSING, Missing
from threadline.engine.placeholders import Filter, Kind, Placeholder
from threadline.engine.templates import (
    UnresolvedPlaceholder,
    find_placeholders,
    make_resolver,
    render,
    render_value,
    resolve_placeholder,
)
from threadline.engine.validate import Problem, blocking, validate_workflow

__all__ = [
    "MISSING",
    "Expr",
    "ExpressionSyntaxError",
    "Filter",
    "Kind",
    "Missing",
    "Placeholder",
    "Problem",
    "UnresolvedPlaceholder",
    "blocking",
    "evaluate",
    "find_placeholders",
    "hydrate_expression",
    "make_resolver",
    "parse_expression",
    "render",
    "render_value",
    "resolve_placeholder",
    "validate_workflow",
]
