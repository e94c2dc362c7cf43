"""Formulas over trend series (PostHog's ``trendsFilter.formula``, e.g. ``A/B`` or ``(A+B)*100``).

Series are named A, B, C ... in order. Only numbers, those names, ``+ - * /`` and parentheses
are allowed; a division by zero gives 0 (as PostHog shows it).
"""

from __future__ import annotations

import ast
from collections.abc import Callable

Formula = Callable[[dict[str, float]], float]
_OPS: dict[type[ast.operator], Callable[[float, float], float]] = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b if b != 0 else 0.0,
}


class BadFormula(ValueError):
    """A formula that isn't arithmetic over the series' letters; the message says why."""


def letter(index: int) -> str:
    """The name of the series at ``index``: A, B, ... Z."""
    return chr(ord("A") + index)


def compile_formula(text: str, series: int) -> Formula:
    """A function of the series' values (by letter) computing ``text``."""
    if len(text) > 500:
        raise BadFormula("longer than 500 characters")
    try:
        tree = ast.parse(text.strip().upper(), mode="eval")
    except SyntaxError:
        raise BadFormula(f"{text!r} is not a formula") from None
    names = {letter(i) for i in range(series)}
    return _compile(tree.body, names)


def _compile(node: ast.expr, names: set[str]) -> Formula:
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        if isinstance(node.value, bool):
            raise BadFormula("booleans are not numbers")
        value = float(node.value)
        return lambda v: value
    if isinstance(node, ast.Name):
        if node.id not in names:
            raise BadFormula(f"{node.id} names no series")
        name = node.id
        return lambda v: v[name]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        inner = _compile(node.operand, names)
        sign = -1.0 if isinstance(node.op, ast.USub) else 1.0
        return lambda v: sign * inner(v)
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        op = _OPS[type(node.op)]
        left, right = _compile(node.left, names), _compile(node.right, names)
        return lambda v: op(left(v), right(v))
    raise BadFormula("only numbers, series letters, + - * / and parentheses are allowed")
