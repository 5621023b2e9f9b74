"""Safe arithmetic expressions for ``LearningRateScheduler.schedule``.

A config may give a schedule as text, for example::

    0.001 if epoch < 10 else 0.001 * exp(0.1 * (10 - epoch))

The text is parsed with :func:`ast.parse`, checked against a small whitelist and
turned into a private tree that is evaluated by walking it. Nothing is ever passed
to ``eval``, ``exec`` or ``compile``, so a config file cannot run code.

All arithmetic is done on floats (``**`` is :func:`math.pow`), so a huge exponent
such as ``10**10**10`` fails at once with an overflow instead of building a
gigantic integer. Errors that depend on the values (division by zero, a math
domain error, overflow) can only surface when the schedule is called; they are
reported as :class:`ExpressionError` naming the epoch and learning rate.

Only the standard library is used: ``cbrun validate`` imports this module and must
not pay for TensorFlow, Keras or NumPy.
"""

from __future__ import annotations

import ast
import difflib
import math
import operator
import re
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

__all__ = [
    "ALLOWED_CONSTANTS",
    "ALLOWED_FUNCTIONS",
    "ALLOWED_NAMES",
    "MAX_DEPTH",
    "MAX_LENGTH",
    "ExpressionError",
    "Schedule",
    "parse_schedule",
]

MAX_LENGTH: Final = 1000
"""Longest accepted schedule text, in characters."""

MAX_DEPTH: Final = 50
"""Deepest accepted nesting of sub-expressions."""

# Longest piece of the user's text quoted back in a message.
_SNIPPET_LENGTH = 60


class ExpressionError(ValueError):
    """Raised for text outside the safe subset, or when evaluating it fails.

    Attributes:
        message: What is wrong and how to fix it, for end users.
        offset: 0-based character offset into the text of the offending part,
            0 if unknown.
    """

    def __init__(self, message: str, offset: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset

    def __reduce__(self) -> tuple[type[ExpressionError], tuple[str, int]]:
        # The default would rebuild from ``args`` alone and lose the offset.
        return (type(self), (self.message, self.offset))


# --------------------------------------------------------------------------- #
# What the language allows
# --------------------------------------------------------------------------- #

ALLOWED_NAMES: Final[tuple[str, ...]] = ("epoch", "lr")

_CONSTANTS: Final[dict[str, float]] = {"pi": math.pi, "e": math.e, "inf": math.inf}
ALLOWED_CONSTANTS: Final[tuple[str, ...]] = tuple(_CONSTANTS)


def _floor(x: float) -> float:
    # Stay in floats: integer results would re-enable unbounded int arithmetic.
    return float(math.floor(x))


def _ceil(x: float) -> float:
    return float(math.ceil(x))


def _round(x: float, ndigits: float | None = None) -> float:
    if ndigits is None:
        return float(round(x))
    # Every value is a float here, but round() needs an int number of digits.
    if not (math.isfinite(ndigits) and float(ndigits).is_integer()):
        raise ValueError("round() needs a whole number of digits")
    return float(round(x, int(ndigits)))


def _min(*args: float) -> float:
    return min(args)


def _max(*args: float) -> float:
    return max(args)


@dataclass(frozen=True, slots=True)
class _Function:
    """A callable the language allows, with its arity checked at parse time."""

    impl: Callable[..., float]
    min_args: int
    max_args: int | None  # None: no upper bound.

    def arity_text(self) -> str:
        """Describe the accepted argument count, e.g. ``1 or 2 arguments``."""
        if self.max_args is None:
            return f"at least {self.min_args} arguments"
        if self.max_args == self.min_args:
            plural = "" if self.min_args == 1 else "s"
            return f"exactly {self.min_args} argument{plural}"
        return f"{self.min_args} or {self.max_args} arguments"


_FUNCTIONS: Final[dict[str, _Function]] = {
    "exp": _Function(math.exp, 1, 1),
    "log": _Function(math.log, 1, 2),
    "log2": _Function(math.log2, 1, 1),
    "log10": _Function(math.log10, 1, 1),
    "sqrt": _Function(math.sqrt, 1, 1),
    "sin": _Function(math.sin, 1, 1),
    "cos": _Function(math.cos, 1, 1),
    "tan": _Function(math.tan, 1, 1),
    "floor": _Function(_floor, 1, 1),
    "ceil": _Function(_ceil, 1, 1),
    "abs": _Function(abs, 1, 1),
    "min": _Function(_min, 2, None),
    "max": _Function(_max, 2, None),
    "pow": _Function(math.pow, 2, 2),
    "round": _Function(_round, 1, 2),
}
ALLOWED_FUNCTIONS: Final[tuple[str, ...]] = tuple(_FUNCTIONS)

_BINARY_OPERATORS: Final[dict[type[ast.operator], tuple[str, Callable[..., float]]]] = {
    ast.Add: ("+", operator.add),
    ast.Sub: ("-", operator.sub),
    ast.Mult: ("*", operator.mul),
    ast.Div: ("/", operator.truediv),
    ast.FloorDiv: ("//", operator.floordiv),
    ast.Mod: ("%", operator.mod),
    # math.pow, not float.__pow__: it raises instead of returning a complex
    # number for a negative base with a fractional exponent.
    ast.Pow: ("**", math.pow),
}
_FORBIDDEN_OPERATORS: Final[dict[type[ast.AST], str]] = {
    ast.MatMult: "@",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.BitOr: "|",
    ast.BitXor: "^",
    ast.BitAnd: "&",
    ast.Invert: "~",
    ast.Is: "is",
    ast.IsNot: "is not",
    ast.In: "in",
    ast.NotIn: "not in",
}
_UNARY_OPERATORS: Final[dict[type[ast.unaryop], Callable[[float], float]]] = {
    ast.UAdd: operator.pos,
    ast.USub: operator.neg,
    ast.Not: operator.not_,
}
_COMPARISONS: Final[dict[type[ast.cmpop], Callable[[float, float], bool]]] = {
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
}

# Names for constructs users may plausibly try, so messages speak their language.
_FORBIDDEN_NODES: Final[dict[type[ast.AST], str]] = {
    ast.Attribute: "attribute access",
    ast.Subscript: "indexing",
    ast.Slice: "slicing",
    ast.Lambda: "lambda",
    ast.ListComp: "a comprehension",
    ast.SetComp: "a comprehension",
    ast.DictComp: "a comprehension",
    ast.GeneratorExp: "a generator expression",
    ast.NamedExpr: "assignment with ':='",
    ast.JoinedStr: "an f-string",
    ast.FormattedValue: "an f-string",
    ast.Starred: "'*' unpacking",
    ast.List: "a list",
    ast.Tuple: "a tuple",
    ast.Dict: "a dict",
    ast.Set: "a set",
    ast.Await: "await",
    ast.Yield: "yield",
    ast.YieldFrom: "yield",
}

_FORBIDDEN_HINT: Final = (
    "a schedule may only combine numbers, epoch, lr, pi, e, inf and calls such "
    "as exp(...) with operators, comparisons and 'a if condition else b'"
)
_ALLOWED_SUMMARY: Final = (
    f"allowed are numbers, the variables {', '.join(ALLOWED_NAMES)}, "
    f"the constants {', '.join(ALLOWED_CONSTANTS)}, "
    f"the functions {', '.join(ALLOWED_FUNCTIONS)}, "
    "+ - * / // % **, comparisons, and/or/not and 'a if condition else b'"
)


# --------------------------------------------------------------------------- #
# The validated tree
# --------------------------------------------------------------------------- #


@dataclass(frozen=True, slots=True)
class _Node:
    """A validated sub-expression and where it came from, for messages."""

    offset: int
    source: str


@dataclass(frozen=True, slots=True)
class _Number(_Node):
    value: float


@dataclass(frozen=True, slots=True)
class _Variable(_Node):
    name: str


@dataclass(frozen=True, slots=True)
class _Unary(_Node):
    op: Callable[[float], float]
    operand: _Node


@dataclass(frozen=True, slots=True)
class _Binary(_Node):
    op: Callable[..., float]
    left: _Node
    right: _Node


@dataclass(frozen=True, slots=True)
class _BoolOp(_Node):
    is_and: bool
    values: tuple[_Node, ...]


@dataclass(frozen=True, slots=True)
class _Compare(_Node):
    left: _Node
    ops: tuple[Callable[[float, float], bool], ...]
    comparators: tuple[_Node, ...]


@dataclass(frozen=True, slots=True)
class _IfElse(_Node):
    test: _Node
    body: _Node
    orelse: _Node


@dataclass(frozen=True, slots=True)
class _Call(_Node):
    function: _Function
    args: tuple[_Node, ...]


# --------------------------------------------------------------------------- #
# Parsing and validation
# --------------------------------------------------------------------------- #

_LINE_RE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n|$)")


def _suggest(name: str) -> str:
    candidates = [*ALLOWED_NAMES, *ALLOWED_CONSTANTS, *ALLOWED_FUNCTIONS]
    # Case slips ('LR', 'Exp') score too low for difflib on short names.
    if name.lower() in candidates:
        return f"; did you mean '{name.lower()}'?"
    matches = difflib.get_close_matches(name, candidates, n=1)
    return f"; did you mean '{matches[0]}'?" if matches else ""


class _Parser:
    """Turns schedule text into a validated ``_Node`` tree."""

    def __init__(self, text: str) -> None:
        self.text = text
        # ast.parse rejects leading indentation; parse without it and add it back
        # to every offset so they still point into the user's text.
        self.body = text.lstrip()
        self.prefix = len(text) - len(self.body)
        self.lines = _LINE_RE.findall(self.body)
        # AST positions count UTF-8 bytes; encode once, not once per node.
        self.encoded = [line.encode("utf-8") for line in self.lines]
        self.line_starts: list[int] = []
        start = 0
        for line in self.lines:
            self.line_starts.append(start)
            start += len(line)

    def parse(self) -> _Node:
        """Parse and validate the whole text.

        Returns:
            The root of the validated tree.

        Raises:
            ExpressionError: The text is empty, too long, not valid syntax, too
                deeply nested or uses something outside the allowed subset.
        """
        if len(self.text) > MAX_LENGTH:
            raise ExpressionError(
                f"the schedule is {len(self.text)} characters long; the limit is "
                f"{MAX_LENGTH}. Simplify the expression.",
                MAX_LENGTH,
            )
        if not self.body.strip():
            raise ExpressionError(
                "the schedule is empty; write an expression of epoch and lr, "
                "e.g. 'lr * 0.9'"
            )
        tree = self._ast_parse()
        self._check_depth(tree.body)
        return self._convert(tree.body)

    def _ast_parse(self) -> ast.Expression:
        try:
            # Silence SyntaxWarnings (e.g. invalid escapes): they'd be printed to
            # the user's terminal, and such text is rejected anyway.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return ast.parse(self.body, mode="eval")
        except SyntaxError as error:
            offset = self._syntax_error_offset(error)
            where = near = ""
            if error.lineno:  # Otherwise the offset is meaningless.
                where = f" at character {offset + 1}"
                snippet = self.text[offset : offset + 20].splitlines()
                if snippet and snippet[0].strip():
                    near = f" near '{snippet[0]}'"
            fix = (
                "Write a Python-style arithmetic expression, "
                "e.g. '0.001 * exp(-0.1 * epoch)'."
            )
            if len(self.body.rstrip().splitlines()) > 1:
                # Python only continues lines inside brackets.
                fix = "To span several lines, wrap the whole expression in (...)."
            raise ExpressionError(
                f"syntax error{where}{near}: {error.msg}. {fix}", offset
            ) from None
        except (RecursionError, MemoryError, ValueError) as error:
            # The parser gives up on pathological nesting with these.
            raise ExpressionError(
                "the schedule is too complex to parse (nested too deeply?); "
                "simplify it.",
            ) from error

    def _syntax_error_offset(self, error: SyntaxError) -> int:
        if not error.lineno or error.lineno > len(self.line_starts):
            return 0
        # SyntaxError.offset is a 1-based *character* column.
        column = max((error.offset or 1) - 1, 0)
        offset = self.prefix + self.line_starts[error.lineno - 1] + column
        return min(offset, len(self.text))

    def _check_depth(self, root: ast.expr) -> None:
        # Iterative, so the check itself cannot hit the recursion limit; after it
        # passes, the recursive conversion and evaluation are bounded by MAX_DEPTH.
        stack: list[tuple[ast.AST, int]] = [(root, 1)]
        while stack:
            node, depth = stack.pop()
            if depth > MAX_DEPTH:
                raise ExpressionError(
                    f"the schedule is nested more than {MAX_DEPTH} levels deep; "
                    "simplify it.",
                    self._offset(node),
                )
            stack.extend(
                (child, depth + 1)
                for child in ast.iter_child_nodes(node)
                if not isinstance(child, ast.expr_context)
            )

    def _offset(self, node: ast.AST) -> int:
        lineno: int | None = getattr(node, "lineno", None)
        col: int | None = getattr(node, "col_offset", None)
        if lineno is None or col is None or lineno > len(self.lines):
            return 0
        # col_offset counts UTF-8 bytes; callers want characters.
        column = len(self.encoded[lineno - 1][:col].decode("utf-8", errors="ignore"))
        return self.prefix + self.line_starts[lineno - 1] + column

    def _source(self, node: ast.AST) -> str:
        # Like ast.get_source_segment, which re-splits the whole text per call.
        start: int | None = getattr(node, "lineno", None)
        end: int | None = getattr(node, "end_lineno", None)
        col: int | None = getattr(node, "col_offset", None)
        end_col: int | None = getattr(node, "end_col_offset", None)
        if start is None or end is None or col is None or end_col is None:
            return type(node).__name__
        if start == end:
            raw = self.encoded[start - 1][col:end_col]
        else:
            raw = b"".join(
                [
                    self.encoded[start - 1][col:],
                    *self.encoded[start : end - 1],
                    self.encoded[end - 1][:end_col],
                ]
            )
        segment = " ".join(raw.decode("utf-8", errors="replace").split())
        if len(segment) > _SNIPPET_LENGTH:
            segment = segment[: _SNIPPET_LENGTH - 3] + "..."
        return segment

    def _error(self, node: ast.AST, message: str) -> ExpressionError:
        return ExpressionError(message, self._offset(node))

    def _where(self, node: ast.AST) -> tuple[int, str]:
        return self._offset(node), self._source(node)

    def _convert(self, node: ast.expr) -> _Node:
        if isinstance(node, ast.Constant):
            return self._constant(node)
        if isinstance(node, ast.Name):
            return self._name(node)
        if isinstance(node, ast.UnaryOp):
            unary = _UNARY_OPERATORS.get(type(node.op))
            if unary is None:
                raise self._operator_error(node, node.op)
            return _Unary(*self._where(node), unary, self._convert(node.operand))
        if isinstance(node, ast.BinOp):
            binary = _BINARY_OPERATORS.get(type(node.op))
            if binary is None:
                raise self._operator_error(node, node.op)
            return _Binary(
                *self._where(node),
                binary[1],
                self._convert(node.left),
                self._convert(node.right),
            )
        if isinstance(node, ast.BoolOp):
            values = tuple(self._convert(value) for value in node.values)
            return _BoolOp(*self._where(node), isinstance(node.op, ast.And), values)
        if isinstance(node, ast.Compare):
            ops = []
            for op in node.ops:
                compare = _COMPARISONS.get(type(op))
                if compare is None:
                    raise self._operator_error(node, op)
                ops.append(compare)
            return _Compare(
                *self._where(node),
                self._convert(node.left),
                tuple(ops),
                tuple(self._convert(c) for c in node.comparators),
            )
        if isinstance(node, ast.IfExp):
            return _IfElse(
                *self._where(node),
                self._convert(node.test),
                self._convert(node.body),
                self._convert(node.orelse),
            )
        if isinstance(node, ast.Call):
            return self._call(node)
        what = _FORBIDDEN_NODES.get(type(node), type(node).__name__)
        raise self._error(
            node,
            f"{what} is not allowed in a schedule: '{self._source(node)}'; "
            f"{_FORBIDDEN_HINT}.",
        )

    def _operator_error(self, node: ast.expr, op: ast.AST) -> ExpressionError:
        symbol = _FORBIDDEN_OPERATORS.get(type(op), type(op).__name__)
        hint = {
            "is": "use == instead",
            "is not": "use != instead",
            "~": "use - for negation",
        }.get(symbol, "use and/or/not for logic and + - * / // % ** for arithmetic")
        return self._error(
            node,
            f"operator '{symbol}' is not allowed in a schedule: "
            f"'{self._source(node)}'; {hint}.",
        )

    def _constant(self, node: ast.Constant) -> _Number:
        value = node.value
        # bool is an int subclass, so test it first.
        if isinstance(value, bool) or not isinstance(value, int | float):
            if isinstance(value, bool):
                what, fix = f"'{value}'", "use 1 or 0, or a comparison"
            elif isinstance(value, str | bytes):
                what, fix = "a string", "remove the quotes around numbers"
            elif value is None:
                what, fix = "'None'", "use a number"
            elif isinstance(value, complex):
                what, fix = "a complex number", "use a real number"
            else:
                what, fix = "this value", "use a number"
            raise self._error(
                node,
                f"{what} is not allowed in a schedule: '{self._source(node)}'; {fix}.",
            )
        try:
            number = float(value)
        except OverflowError:
            raise self._error(
                node,
                f"the number '{self._source(node)}' is too large; "
                "use 'inf' or a smaller number.",
            ) from None
        return _Number(*self._where(node), number)

    def _name(self, node: ast.Name) -> _Node:
        name = node.id
        if name in ALLOWED_NAMES:
            return _Variable(*self._where(node), name)
        if name in _CONSTANTS:
            return _Number(*self._where(node), _CONSTANTS[name])
        if name in _FUNCTIONS:
            raise self._error(
                node,
                f"'{name}' is a function; call it with an argument, "
                f"e.g. '{name}(epoch)'.",
            )
        raise self._error(
            node, f"unknown name '{name}'{_suggest(name)} ({_ALLOWED_SUMMARY})."
        )

    def _call(self, node: ast.Call) -> _Call:
        func = node.func
        if not isinstance(func, ast.Name):
            # Reports e.g. `x.y(...)` as attribute access, the real problem.
            if type(func) in _FORBIDDEN_NODES:
                self._convert(func)
            raise self._error(
                node,
                f"only the allowed functions can be called, by name: "
                f"'{self._source(node)}'; the functions are "
                f"{', '.join(ALLOWED_FUNCTIONS)}.",
            )
        name = func.id
        function = _FUNCTIONS.get(name)
        if function is None:
            if name in ALLOWED_NAMES or name in _CONSTANTS:
                raise self._error(
                    node,
                    f"'{name}' is not a function: '{self._source(node)}'; "
                    f"write '{name} * (...)' to multiply.",
                )
            raise self._error(
                node,
                f"unknown function '{name}'{_suggest(name)} ({_ALLOWED_SUMMARY}).",
            )
        if node.keywords:
            keyword = node.keywords[0]
            raise self._error(
                keyword,
                f"{name}() takes no keyword arguments: '{self._source(keyword)}'; "
                "pass values by position.",
            )
        for arg in node.args:
            # `f(*xs)` would otherwise be misreported as a wrong argument count.
            if isinstance(arg, ast.Starred):
                self._convert(arg)
        count = len(node.args)
        too_many = function.max_args is not None and count > function.max_args
        if count < function.min_args or too_many:
            raise self._error(
                node,
                f"{name}() takes {function.arity_text()}, got {count}: "
                f"'{self._source(node)}'.",
            )
        args = tuple(self._convert(arg) for arg in node.args)
        return _Call(*self._where(node), function, args)


# --------------------------------------------------------------------------- #
# Evaluation
# --------------------------------------------------------------------------- #


class _EvaluationFailed(Exception):
    """Internal: an operation failed; carries the node for the message."""

    def __init__(self, node: _Node, reason: str, fix: str) -> None:
        super().__init__(reason)
        self.node = node
        self.reason = reason
        self.fix = fix


def _apply(node: _Node, function: Callable[..., float], args: Sequence[float]) -> float:
    try:
        return function(*args)
    except ZeroDivisionError:
        reason = "division by zero"
        fix = "make sure the divisor cannot be 0, e.g. 'x if epoch > 0 else y'"
    except OverflowError:
        reason = "a number is too large"
        fix = "use smaller numbers, or bound the exponent with min()"
    except ValueError as error:
        reason = str(error)
        if reason == "math domain error":
            reason += " (e.g. log or sqrt of a negative number)"
        fix = "keep the argument in range, e.g. with max()"
    raise _EvaluationFailed(node, reason, fix)


def _evaluate(node: _Node, env: dict[str, float]) -> float:
    # Values are floats, or bools from comparisons and `not`, as in Python.
    if isinstance(node, _Number):
        return node.value
    if isinstance(node, _Variable):
        return env[node.name]
    if isinstance(node, _Unary):
        return _apply(node, node.op, [_evaluate(node.operand, env)])
    if isinstance(node, _Binary):
        left = _evaluate(node.left, env)
        right = _evaluate(node.right, env)
        return _apply(node, node.op, [left, right])
    if isinstance(node, _BoolOp):
        # Short-circuits and returns an operand, like Python's and/or.
        value = _evaluate(node.values[0], env)
        for operand in node.values[1:]:
            if bool(value) != node.is_and:
                break
            value = _evaluate(operand, env)
        return value
    if isinstance(node, _Compare):
        left = _evaluate(node.left, env)
        for compare, comparator in zip(node.ops, node.comparators, strict=True):
            right = _evaluate(comparator, env)
            if not compare(left, right):
                return False
            left = right
        return True
    if isinstance(node, _IfElse):
        branch = node.body if _evaluate(node.test, env) else node.orelse
        return _evaluate(branch, env)
    if isinstance(node, _Call):
        args = [_evaluate(arg, env) for arg in node.args]
        return _apply(node, node.function.impl, args)
    raise AssertionError(f"unexpected node {node!r}")  # pragma: no cover


class Schedule:
    """A parsed, validated expression; callable as ``schedule(epoch, lr)``.

    Construct it with :func:`parse_schedule` (or ``Schedule(text)``, which is the
    same); the text is validated before the object exists.

    Attributes:
        text: The expression exactly as given.
    """

    __slots__ = ("_root", "text")

    def __init__(self, text: str) -> None:
        """Parse and validate ``text``.

        Args:
            text: The expression, e.g. ``"lr * 0.9 if epoch > 5 else lr"``.

        Raises:
            ExpressionError: The text is outside the allowed subset.
        """
        if not isinstance(text, str):
            raise ExpressionError(
                f"a schedule must be text, got {type(text).__name__}; "
                "quote it, e.g. 'lr * 0.9'."
            )
        self.text = text
        self._root = _Parser(text).parse()

    def __call__(self, epoch: int, lr: float) -> float:
        """Evaluate the schedule, the way ``LearningRateScheduler`` calls it.

        Args:
            epoch: The 0-based epoch index.
            lr: The current learning rate.

        Returns:
            The new learning rate, a finite float.

        Raises:
            ExpressionError: An operation failed (division by zero, overflow, a
                math domain error) or the result is not a finite number.
        """
        where = f"epoch={epoch}, lr={lr}"
        try:
            result = _evaluate(self._root, {"epoch": float(epoch), "lr": float(lr)})
        except _EvaluationFailed as failure:
            raise ExpressionError(
                f"the schedule failed at {where}: {failure.reason} in "
                f"'{failure.node.source}'; {failure.fix}.",
                failure.node.offset,
            ) from None
        if isinstance(result, bool):
            raise ExpressionError(
                f"the schedule gave a truth value ({result}) at {where}, not a "
                "number; use 'a if condition else b'."
            )
        if not math.isfinite(result):
            raise ExpressionError(
                f"the schedule gave {result} at {where}; a learning rate must be "
                "a finite number."
            )
        return float(result)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.text!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Schedule):
            return NotImplemented
        return self.text == other.text

    def __hash__(self) -> int:
        return hash(self.text)

    def __reduce__(self) -> tuple[type[Schedule], tuple[str]]:
        # Pickle as text and re-validate on load rather than trusting a tree.
        return (type(self), (self.text,))


def parse_schedule(text: str) -> Schedule:
    """Parse and validate a schedule expression.

    Args:
        text: An arithmetic expression of ``epoch`` (int) and ``lr`` (float),
            e.g. ``"0.001 if epoch < 10 else 0.001 * exp(0.1 * (10 - epoch))"``.

    Returns:
        A :class:`Schedule`, callable as ``schedule(epoch, lr) -> float``.

    Raises:
        ExpressionError: The text is outside the safe subset; ``offset`` points
            at the offending part.
    """
    return Schedule(text)


def first_failure(
    schedule: Schedule, *, start_epoch: int, epochs: int, lr: float
) -> tuple[int, ExpressionError] | None:
    """Run a schedule the way ``LearningRateScheduler`` will, epoch by epoch.

    Each epoch's rate is fed to the next call, as Keras does when nothing
    else changes the rate. At most 10 000 epochs are tried (microseconds each).

    Args:
        schedule: The parsed schedule.
        start_epoch: The first epoch trained (``fit.initial_epoch``).
        epochs: ``fit.epochs``: the schedule is called for epochs below it.
        lr: The optimizer's learning rate before the first call.

    Returns:
        ``(epoch, error)`` for the first epoch that fails, or None.
    """
    for epoch in range(start_epoch, min(epochs, start_epoch + 10_000)):
        try:
            lr = schedule(epoch, lr)
        except ExpressionError as error:
            return epoch, error
    return None
