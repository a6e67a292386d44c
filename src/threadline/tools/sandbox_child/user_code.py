"""Running the user's code in the sandbox child: the import allow-list, loading
and calling the function, classifying failures, serialising the result. Standard
library only."""

import ast
import datetime as _dt
import io
import json
import linecache
import traceback
from collections.abc import Callable
from typing import Any

FILENAME = "<inline_python>"

# Modules user code may import; all are imported before isolation.
ALLOWED_MODULES: tuple[str, ...] = (
    "base64",
    "bisect",
    "calendar",
    "cmath",
    "collections",
    "collections.abc",
    "copy",
    "dataclasses",
    "datetime",
    "decimal",
    "difflib",
    "enum",
    "fractions",
    "functools",
    "hashlib",
    "heapq",
    "hmac",
    "html",
    "itertools",
    "json",
    "math",
    "operator",
    "random",
    "re",
    "statistics",
    "string",
    "textwrap",
    "time",
    "typing",
    "unicodedata",
    "urllib.parse",
    "uuid",
    "zlib",
)


# --- running the user code ------------------------------------------------------


class ForbiddenImport(ImportError):
    """An import outside the allow-list."""


class Failure(Exception):
    """A classified failure: ``error_type`` and message."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message


def _guarded_import(real: Callable[..., Any]) -> Callable[..., Any]:
    allowed = frozenset(ALLOWED_MODULES)

    def __import__(
        name: str,
        globals: Any = None,
        locals: Any = None,
        fromlist: Any = (),
        level: int = 0,
    ) -> Any:
        if level != 0 or name not in allowed:
            raise ForbiddenImport(
                f"import of {name!r} is not allowed in the sandbox "
                f"(allowed: {', '.join(sorted(allowed))})"
            )
        return real(name, globals, locals, fromlist, level)

    return __import__


def _user_builtins() -> dict[str, Any]:
    import builtins

    b = dict(vars(builtins))
    b["__import__"] = _guarded_import(builtins.__import__)
    for name in ("breakpoint", "input", "help", "exit", "quit", "copyright"):
        b.pop(name, None)
    return b


def _describe(exc: BaseException) -> str:
    msg = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    frames = [
        f for f in traceback.extract_tb(exc.__traceback__) if f.filename == FILENAME
    ]
    if frames:
        f = frames[-1]
        msg += f" (line {f.lineno}, in {f.name}"
        msg += f": {f.line.strip()})" if f.line else ")"
    return msg


def _pick_function(tree: ast.Module, function_name: str | None) -> str:
    defs = [
        n for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
    ]
    if function_name is not None:
        chosen = [d for d in defs if d.name == function_name]
        if not chosen:
            raise Failure(
                "function_not_found", f"no top-level function named {function_name!r}"
            )
        node = chosen[-1]
    elif defs:
        node = defs[0]
    else:
        raise Failure("function_not_found", "the code defines no top-level function")
    if isinstance(node, ast.AsyncFunctionDef):
        raise Failure("invalid_function", f"{node.name!r} is async; use a plain def")
    return node.name


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, set | frozenset):
        return list(obj)
    if isinstance(obj, _dt.date | _dt.time):
        return obj.isoformat()
    return str(obj)


def run_user_code(request: dict[str, Any]) -> Any:
    """Compile, load and call; returns the JSON-ready result or raises Failure."""
    import inspect

    code: str = request["code"]
    linecache.cache[FILENAME] = (len(code), None, code.splitlines(True), FILENAME)
    try:
        tree = ast.parse(code, FILENAME)
    except SyntaxError as exc:
        raise Failure("syntax_error", f"line {exc.lineno}: {exc.msg}") from None
    name = _pick_function(tree, request.get("function_name"))
    namespace: dict[str, Any] = {"__builtins__": _user_builtins(), "__name__": "tool"}
    exec(compile(tree, FILENAME, "exec"), namespace)
    fn = namespace.get(name)
    if not callable(fn):
        raise Failure("function_not_found", f"{name!r} is not a function after loading")
    args: dict[str, Any] = request["args"]
    try:
        inspect.signature(fn).bind(**args)
    except TypeError as exc:
        raise Failure("invalid_arguments", f"{name}(): {exc}") from None
    return fn(**args)


def classify(exc: BaseException) -> tuple[str, str]:
    if isinstance(exc, Failure):
        return exc.error_type, exc.message
    if isinstance(exc, MemoryError):
        return "memory_limit", "the code exceeded the memory limit (MemoryError)"
    if isinstance(exc, ForbiddenImport | PermissionError):
        return "forbidden", _describe(exc)
    return "runtime_error", _describe(exc)


def serialise(value: Any, max_bytes: int) -> bytes:
    try:
        text = json.dumps({"ok": True, "result": value}, default=_jsonable)
    except (TypeError, ValueError) as exc:
        msg = f"the result is not JSON-serialisable: {exc}"
        raise Failure("invalid_result", msg) from None
    data = text.encode()
    if len(data) > max_bytes:
        raise Failure(
            "output_limit",
            f"the result is {len(data)} bytes, over the {max_bytes}-byte limit",
        )
    return data


class Sink(io.TextIOBase):
    """Swallows the user's prints so they cannot corrupt the result channel."""

    def write(self, s: str) -> int:
        return len(s)
