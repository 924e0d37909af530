"""A tiny, safe expression language for "predict, then run" checks. Never uses eval.

A check is one Python-looking expression over a widget's result data, for example

    runs[1].val_loss[-1] > runs[0].val_loss[-1] + 0.5
    run["no warmup"].val_loss[-1] - run["warmup 40"].val_loss[-1] > 0.5
    max(runs[0].grad_norm) < 10 and params.peak_lr == 0.006

What is allowed, and nothing else:
  - numbers, strings, True/False/None; lists/tuples of those
  - names: the top-level keys of the result data, plus `params` (the canonical widget
    parameters) and `run` (the result's runs keyed by their label, when it has runs)
  - subscripts x[0], x[-1], x["key"], slices x[1:5]; `x.key` is the same as x["key"] and
    only looks up keys of a mapping (never a Python attribute)
  - arithmetic + - * / // % ** (small exponents), unary - + not
  - comparisons < <= > >= == != (chained too), `and`, `or`
  - calls to min, max, abs, len, sum, mean, first, last, with positional arguments only
"""
from __future__ import annotations

import ast
import math
import operator
from typing import Any, Mapping


class ExprError(ValueError):
    """An expression that uses something outside the language, or fails to evaluate."""


_BINOPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
           ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
           ast.Pow: operator.pow}
_CMPOPS = {ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge,
           ast.Eq: operator.eq, ast.NotEq: operator.ne}
_UNARY = {ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Not: operator.not_}
_SYMBOLS = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!="}


def _mean(values):
    values = list(values)
    if not values:
        raise ExprError("mean() of an empty list")
    return sum(values) / len(values)


FUNCTIONS = {"min": min, "max": max, "abs": abs, "len": len, "sum": sum, "mean": _mean,
             "first": lambda xs: xs[0], "last": lambda xs: xs[-1]}
MAX_LENGTH = 500
MAX_EXPONENT = 100


def parse(text: str) -> ast.Expression:
    """Parse and vet an expression; raise ExprError naming the first thing not allowed."""
    if not isinstance(text, str) or not text.strip():
        raise ExprError("the check is empty")
    if len(text) > MAX_LENGTH:
        raise ExprError(f"the check is {len(text)} characters long; at most {MAX_LENGTH} are allowed")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise ExprError(f"the check {text!r} is not a valid expression: {exc.msg}") from None
    for node in ast.walk(tree):
        _vet(node)
    return tree


def _vet(node: ast.AST) -> None:
    allowed = (ast.Expression, ast.Constant, ast.Name, ast.Load, ast.Subscript, ast.Slice,
               ast.Attribute, ast.BinOp, ast.UnaryOp, ast.BoolOp, ast.And, ast.Or, ast.Compare,
               ast.Call, ast.List, ast.Tuple, *_BINOPS, *_CMPOPS, *_UNARY)
    if not isinstance(node, allowed):
        raise ExprError(f"{type(node).__name__} is not allowed in a check "
                        f"(only comparisons, arithmetic, subscripts, names and a few functions)")
    if isinstance(node, ast.Constant) and not isinstance(node.value, (int, float, str, bool, type(None))):
        raise ExprError(f"the constant {node.value!r} is not allowed in a check")
    if isinstance(node, ast.Name) and node.id.startswith("_"):
        raise ExprError(f"the name {node.id!r} is not allowed in a check")
    if isinstance(node, ast.Attribute) and node.attr.startswith("_"):
        raise ExprError(f"the key .{node.attr} is not allowed in a check")
    if isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
            raise ExprError(f"only these functions can be called in a check: {', '.join(FUNCTIONS)}")
        if node.keywords:
            raise ExprError("keyword arguments are not allowed in a check")


def names_for(data: Mapping[str, Any], params: Mapping[str, Any] | None = None) -> dict:
    """The names a check can use for a widget result."""
    names = dict(data) if isinstance(data, Mapping) else {}
    if params is not None:
        names["params"] = dict(params)
    runs = names.get("runs")
    if isinstance(runs, list) and all(isinstance(r, Mapping) and "label" in r for r in runs):
        names.setdefault("run", {r["label"]: r for r in runs})
    return names


def evaluate(text: str | ast.Expression, names: Mapping[str, Any]) -> Any:
    """The value of an expression over `names` (see names_for)."""
    tree = parse(text) if isinstance(text, str) else text
    return _eval(tree.body, names)


def _eval(node: ast.AST, names: Mapping[str, Any]) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        if node.id in FUNCTIONS:
            raise ExprError(f"{node.id} is a function: call it, as in {node.id}(...)")
        if node.id not in names:
            raise ExprError(f"unknown name {node.id!r}; the result has {', '.join(sorted(names))}")
        return names[node.id]
    if isinstance(node, (ast.List, ast.Tuple)):
        return [_eval(e, names) for e in node.elts]
    if isinstance(node, ast.Attribute):
        return _lookup(_eval(node.value, names), node.attr, f".{node.attr}")
    if isinstance(node, ast.Subscript):
        container = _eval(node.value, names)
        if isinstance(node.slice, ast.Slice):
            parts = [None if p is None else _eval(p, names)
                     for p in (node.slice.lower, node.slice.upper, node.slice.step)]
            if not isinstance(container, (list, tuple, str)):
                raise ExprError(f"cannot slice a {type(container).__name__}")
            if not all(p is None or (isinstance(p, int) and not isinstance(p, bool)) for p in parts):
                raise ExprError("slice bounds must be integers")
            return container[slice(*parts)]
        key = _eval(node.slice, names)
        return _lookup(container, key, f"[{key!r}]")
    if isinstance(node, ast.UnaryOp):
        return _UNARY[type(node.op)](_eval(node.operand, names))
    if isinstance(node, ast.BinOp):
        left, right = _eval(node.left, names), _eval(node.right, names)
        for side in (left, right):
            if not isinstance(side, (int, float)) or isinstance(side, bool):
                raise ExprError(f"arithmetic needs numbers, got {type(side).__name__}")
        if isinstance(node.op, ast.Pow) and abs(right) > MAX_EXPONENT:
            raise ExprError(f"exponents above {MAX_EXPONENT} are not allowed")
        try:
            return _BINOPS[type(node.op)](left, right)
        except ZeroDivisionError:
            raise ExprError("division by zero") from None
    if isinstance(node, ast.BoolOp):
        if isinstance(node.op, ast.And):
            value = True
            for v in node.values:
                value = _eval(v, names)
                if not value:
                    return value
            return value
        value = False
        for v in node.values:
            value = _eval(v, names)
            if value:
                return value
        return value
    if isinstance(node, ast.Compare):
        left = _eval(node.left, names)
        for op, comparator in zip(node.ops, node.comparators):
            right = _eval(comparator, names)
            try:
                if not _CMPOPS[type(op)](left, right):
                    return False
            except TypeError:
                raise ExprError(f"cannot compare {type(left).__name__} with {type(right).__name__}") from None
            left = right
        return True
    if isinstance(node, ast.Call):
        args = [_eval(a, names) for a in node.args]
        try:
            return FUNCTIONS[node.func.id](*args)
        except ExprError:
            raise
        except (TypeError, ValueError, IndexError) as exc:
            raise ExprError(f"{node.func.id}(...) failed: {exc}") from None
    raise ExprError(f"{type(node).__name__} is not allowed in a check")  # pragma: no cover (vetted)


def _lookup(container: Any, key: Any, spelled: str) -> Any:
    if isinstance(container, Mapping):
        if key not in container:
            raise ExprError(f"no key {key!r} here ({spelled}); the keys are {', '.join(map(str, container))}")
        return container[key]
    if isinstance(container, (list, tuple, str)):
        if not isinstance(key, int) or isinstance(key, bool):
            raise ExprError(f"a list is indexed by an integer, got {spelled}")
        if not -len(container) <= key < len(container):
            raise ExprError(f"index {key} is out of range for a list of {len(container)}")
        return container[key]
    raise ExprError(f"cannot look up {spelled} in a {type(container).__name__}")


def explain(text: str, names: Mapping[str, Any]) -> str:
    """The check with the value of each side of its comparisons, for failure messages."""
    tree = parse(text)
    parts = []

    def visit(node):
        if isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            values = []
            for side in sides:
                try:
                    values.append(_fmt(_eval(side, names)))
                except ExprError as exc:
                    values.append(f"<{exc}>")
            spelled = values[0]
            for op, value in zip(node.ops, values[1:]):
                spelled += f" {_SYMBOLS[type(op)]} {value}"
            parts.append(f"{ast.unparse(node)}  ->  {spelled}")
        elif isinstance(node, ast.BoolOp):
            for v in node.values:
                visit(v)

    visit(tree.body)
    return "; ".join(parts) if parts else f"{text} -> {_fmt(evaluate(tree, names))}"


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.4g}"
    if isinstance(value, list) and len(value) > 6:
        return f"[{len(value)} values]"
    return repr(value)
