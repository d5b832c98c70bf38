# Over 500 lines on purpose: a registry of 19 small operators, each a few lines, read side by side; one module per
# operator would hide that they follow one contract (see How to add an operator).
"""Mutation operators: small pure rewrites of one answer region's syntax tree, one change per mutant.

:func:`mutate` parses a region (its common indentation removed), visits every
node in a fixed order and asks every operator of :data:`OPERATORS`, in
registry order, what it would make of that node. Each answer is one
:class:`Change`; applied to a fresh copy of the tree it gives one mutant. The
mutant's text is the region with only the changed expression's characters
replaced (or, for a statement-level change, only the changed statement's
lines), checked by parsing it back to exactly the mutated tree. Mutants whose
text repeats an earlier one are dropped, so the list depends on the source
alone: no randomness, no clock.

What is never mutated: docstrings and other bare strings, ``print(...)``
calls, f-strings, imports, annotations, ``assert`` statements and comments
(which the syntax tree does not hold). Strings are mutated only by
``string``, which empties them: a dictionary key, a compared name or a
written answer that is empty is a real mistake, a reworded one usually is
not.

How to add an operator: a function ``(site: Site) -> list[Change]`` decorated
with ``@mutation_operator("name")``. It looks at ``site.node`` (and ``site.parent``,
``site.field`` for where it sits) and returns replacements built from copies,
never touching the tree it was given. An expression is replaced by an
expression; a statement by a list of statements (an empty list removes it).
"""

from __future__ import annotations

import ast
import copy
import difflib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from grader.shorten import shorten

_T = TypeVar("_T")

# ------------------------------------------------------------------ records


@dataclass(frozen=True)
class RegionContext:
    """What the operators may know about the code around a region.

    ``parameters``: the enclosing function's parameters (empty at top level).
    ``tensor_code``: the region's cell works with torch, so ``.detach()`` and
    ``torch.no_grad()`` mutants make sense there. ``torch_name``: the name
    torch is bound to in the notebook, or "" when it is not imported.
    """

    parameters: tuple[str, ...] = ()
    tensor_code: bool = False
    torch_name: str = ""


@dataclass(frozen=True)
class Site:
    """One node of the region's tree, where it sits, and the context."""

    node: ast.AST
    parent: ast.AST | None
    field: str
    index: int | None  # the position in the parent's list field, if it is one
    path: tuple[tuple[str, int | None], ...]  # (field, index) steps from the module to the node
    statement: tuple[tuple[str, int | None], ...]  # the path of the innermost statement around (or at) the node
    context: RegionContext


@dataclass(frozen=True)
class Change:
    """One replacement for a site's node: an expression for an expression, statements for a statement."""

    replacement: ast.expr | list[ast.stmt]
    what: str  # in words, e.g. "`+` -> `-`"


@dataclass(frozen=True)
class Mutation:
    """One mutant of a region: which operator, what it changed, where, and the region's new text."""

    operator: str
    what: str
    line: int  # 1-based line of the region where the change starts
    source: str


Operator = Callable[[Site], list[Change]]
OPERATORS: dict[str, Operator] = {}


def mutation_operator(name: str) -> Callable[[Operator], Operator]:
    """Decorator: register a mutation operator under ``name`` (the registry's order is the mutants' order)."""

    def register(fn: Operator) -> Operator:
        if name in OPERATORS:
            raise ValueError(f"mutation operator {name!r} is registered twice")
        OPERATORS[name] = fn
        return fn

    return register


# ------------------------------------------------------------------ the operators

_BASIC = (ast.Add, ast.Sub, ast.Mult, ast.Div)
_ARITHMETIC_SWAPS: dict[type[ast.operator], tuple[type[ast.operator], ...]] = {
    ast.Add: (ast.Sub, ast.Mult, ast.Div),
    ast.Sub: (ast.Add, ast.Mult, ast.Div),
    ast.Mult: (ast.Div, ast.Add, ast.Sub),
    ast.Div: (ast.Mult, ast.Add, ast.Sub),
    ast.Pow: (ast.Mult,),
    ast.FloorDiv: (ast.Div,),
    ast.Mod: (ast.FloorDiv,),
    ast.MatMult: (ast.Mult,),
}
_COMPARE_SWAPS: dict[type[ast.cmpop], tuple[type[ast.cmpop], ...]] = {
    ast.Eq: (ast.NotEq,),
    ast.NotEq: (ast.Eq,),
    ast.Lt: (ast.LtE, ast.GtE),
    ast.LtE: (ast.Lt, ast.Gt),
    ast.Gt: (ast.GtE, ast.LtE),
    ast.GtE: (ast.Gt, ast.Lt),
    ast.Is: (ast.IsNot,),
    ast.IsNot: (ast.Is,),
    ast.In: (ast.NotIn,),
    ast.NotIn: (ast.In,),
}
_SIBLING_PAIRS = [
    ("sin", "cos"), ("sinh", "cosh"), ("asin", "acos"), ("exp", "log"), ("expm1", "log1p"),
    ("sum", "mean"), ("max", "min"), ("amax", "amin"), ("argmax", "argmin"), ("maximum", "minimum"),
    ("zeros", "ones"), ("zeros_like", "ones_like"), ("floor", "ceil"), ("rand", "randn"),
]
SIBLINGS: dict[str, str] = {**dict(_SIBLING_PAIRS), **{b: a for a, b in _SIBLING_PAIRS}}
_SEGMENT_NAME = re.compile(r"segment|chunk", re.IGNORECASE)


@mutation_operator("arithmetic")
def arithmetic(site: Site) -> list[Change]:
    """An arithmetic operator swapped: ``+ - * /`` each for the three others, ``**`` -> ``*``, ``//`` -> ``/``, ``%`` -> ``//``, ``@`` -> ``*``."""
    node = site.node
    if isinstance(node, ast.BinOp):
        return [Change(ast.BinOp(_copy(node.left), new(), _copy(node.right)), f"`{_op(node.op)}` -> `{_op(new())}`")
                for new in _ARITHMETIC_SWAPS.get(type(node.op), ())]
    if isinstance(node, ast.AugAssign):
        return [Change([ast.AugAssign(_copy(node.target), new(), _copy(node.value))], f"`{_op(node.op)}=` -> `{_op(new())}=`")
                for new in _ARITHMETIC_SWAPS.get(type(node.op), ())]
    return []


@mutation_operator("comparison")
def comparison(site: Site) -> list[Change]:
    """A comparison operator swapped: ``==``/``!=``, ``<``/``<=``/``>=``, ``>``/``>=``/``<=``, ``is``/``is not``, ``in``/``not in``."""
    node = site.node
    if not isinstance(node, ast.Compare):
        return []
    changes = []
    for position, op in enumerate(node.ops):
        for new in _COMPARE_SWAPS.get(type(op), ()):
            ops = [*node.ops[:position], new(), *node.ops[position + 1 :]]
            changes.append(Change(ast.Compare(_copy(node.left), ops, _copy(node.comparators)), f"`{_op(op)}` -> `{_op(new())}`"))
    return changes


@mutation_operator("boolean")
def boolean(site: Site) -> list[Change]:
    """``and`` <-> ``or``, and a ``not`` removed."""
    node = site.node
    if isinstance(node, ast.BoolOp):
        new: ast.boolop = ast.Or() if isinstance(node.op, ast.And) else ast.And()
        return [Change(ast.BoolOp(new, _copy(node.values)), f"`{_op(node.op)}` -> `{_op(new)}`")]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return [Change(_copy(node.operand), "`not` removed")]
    return []


@mutation_operator("condition")
def condition(site: Site) -> list[Change]:
    """A condition negated (``if``, ``while``, ``x if c else y``, a comprehension's ``if``), unless ``comparison`` or ``boolean`` covers it."""
    parent = site.parent
    tested = (isinstance(parent, (ast.If, ast.While, ast.IfExp)) and site.field == "test") or (
        isinstance(parent, ast.comprehension) and site.field == "ifs")
    node = site.node
    if not tested or not isinstance(node, ast.expr) or isinstance(node, (ast.Compare, ast.BoolOp)):
        return []
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return []
    return [Change(ast.UnaryOp(ast.Not(), _copy(node)), f"condition `{_short_text(node)}` negated")]


@mutation_operator("sign")
def sign(site: Site) -> list[Change]:
    """A sign flipped: a unary minus removed, a number negated, a whole arithmetic expression negated."""
    node = site.node
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and not _is_index(site):
        return [Change(_copy(node.operand), "unary `-` removed")]
    if isinstance(node, ast.Constant) and _number(node) and not _is_index(site) and not _negated(site) and _value(node) != 0:
        return [Change(_literal(-_value(node)), f"`{_text(node)}` -> `{_text(_literal(-_value(node)))}`")]
    if isinstance(node, ast.BinOp) and isinstance(node.op, _BASIC) and not isinstance(site.parent, (ast.BinOp, ast.UnaryOp)):
        return [Change(ast.UnaryOp(ast.USub(), _copy(node)), "the expression negated")]
    return []


@mutation_operator("constant")
def constant(site: Site) -> list[Change]:
    """A number changed to 0, 1, itself plus or minus 1, or twice itself (indices are left to ``index``); ``True`` <-> ``False``."""
    node = site.node
    if isinstance(node, ast.Constant) and type(node.value) is bool:
        return [Change(ast.Constant(not node.value), f"`{node.value}` -> `{not node.value}`")]
    if not _number(node) or _is_index(site) or _negated(site):  # `-2` is changed as a whole, at its unary minus
        return []
    value = _value(node)
    changes, seen = [], {value}
    for new in (0, 1, value + 1, value - 1, value * 2):
        typed = float(new) if isinstance(value, float) else int(new)
        if typed in seen:
            continue
        seen.add(typed)
        replacement = _literal(typed)
        changes.append(Change(replacement, f"`{_text(node)}` -> `{_text(replacement)}`"))
    return changes


@mutation_operator("string")
def string(site: Site) -> list[Change]:
    """A non-empty string constant emptied (docstrings, prints and f-strings are never visited)."""
    node = site.node
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value:
        return [Change(ast.Constant(""), f"{_short(node)} -> `''`")]
    return []


@mutation_operator("call")
def call(site: Site) -> list[Change]:
    """A call swapped with its sibling: ``sin``/``cos``, ``exp``/``log``, ``sum``/``mean``, ``max``/``min``, ... (see SIBLINGS)."""
    node = site.node
    if not isinstance(node, ast.Call):
        return []
    name = _callee(node)
    if name not in SIBLINGS:
        return []
    swapped = _copy(node)
    if isinstance(swapped.func, ast.Name):
        swapped.func.id = SIBLINGS[name]
    elif isinstance(swapped.func, ast.Attribute):
        swapped.func.attr = SIBLINGS[name]
    return [Change(swapped, f"`{name}` -> `{SIBLINGS[name]}`")]


@mutation_operator("drop")
def drop(site: Site) -> list[Change]:
    """A term or factor dropped: ``a op b`` -> ``a`` and -> ``b``; ``a or b`` -> ``a`` and -> ``b``."""
    node = site.node
    if isinstance(node, ast.BinOp) and type(node.op) in _ARITHMETIC_SWAPS:
        return [Change(_copy(node.left), f"`{_text(node)}` -> `{_text(node.left)}`"),
                Change(_copy(node.right), f"`{_text(node)}` -> `{_text(node.right)}`")]
    if isinstance(node, ast.BoolOp):
        changes: list[Change] = []
        for position in range(len(node.values)):
            rest = [_copy(v) for i, v in enumerate(node.values) if i != position]
            replacement = rest[0] if len(rest) == 1 else ast.BoolOp(_copy(node.op), rest)
            changes.append(Change(replacement, f"`{_text(node.values[position])}` dropped"))
        return changes
    return []


@mutation_operator("return_parameter")
def return_parameter(site: Site) -> list[Change]:
    """A function returns one of its parameters instead of its result."""
    if not (isinstance(site.parent, ast.Return) and site.field == "value"):
        return []
    node = site.node
    return [Change(ast.Name(p, ast.Load()), f"returns its argument `{p}` instead of `{_short_text(node)}`")
            for p in site.context.parameters if not (isinstance(node, ast.Name) and node.id == p)]


@mutation_operator("argument")
def argument(site: Site) -> list[Change]:
    """A call's argument used instead of the call's result: ``f(a, b)`` -> ``a`` and -> ``b`` (where the result is used)."""
    node = site.node
    if not isinstance(node, ast.Call) or isinstance(site.parent, ast.Expr):
        return []
    return [Change(_copy(arg), f"`{_short_text(node)}` -> its argument `{_short_text(arg)}`")
            for arg in node.args if not isinstance(arg, ast.Starred)]


@mutation_operator("detach")
def detach(site: Site) -> list[Change]:
    """``.detach()`` added to a computed value that is returned or assigned (in code that uses torch)."""
    if not site.context.tensor_code or not _computed_value(site):
        return []
    node = site.node
    assert isinstance(node, ast.expr)
    return [Change(ast.Call(ast.Attribute(_copy(node), "detach", ast.Load()), [], []), "`.detach()` added")]


@mutation_operator("no_grad")
def no_grad(site: Site) -> list[Change]:
    """A statement that returns or assigns a computed value put under ``with torch.no_grad():``."""
    node = site.node
    torch_name = site.context.torch_name
    if not (site.context.tensor_code and torch_name and isinstance(node, (ast.Return, ast.Assign)) and _computes(node.value)):
        return []
    context = ast.Call(ast.Attribute(ast.Name(torch_name, ast.Load()), "no_grad", ast.Load()), [], [])
    return [Change([ast.With([ast.withitem(context)], [_copy(node)])], f"under `{torch_name}.no_grad()`")]


@mutation_operator("requires_grad")
def requires_grad(site: Site) -> list[Change]:
    """``requires_grad`` removed: the keyword, a ``.requires_grad_()`` call, or a ``.requires_grad = ...`` statement."""
    node = site.node
    if isinstance(node, ast.Call):
        if any(k.arg == "requires_grad" for k in node.keywords):
            kept = _copy(node)
            kept.keywords = [k for k in kept.keywords if k.arg != "requires_grad"]
            return [Change(kept, "`requires_grad=` removed")]
        if isinstance(node.func, ast.Attribute) and node.func.attr == "requires_grad_" and not isinstance(site.parent, ast.Expr):
            return [Change(_copy(node.func.value), "`.requires_grad_()` removed")]
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call) and _callee(node.value) == "requires_grad_":
        return [Change([], "`.requires_grad_()` removed")]
    if isinstance(node, ast.Assign) and all(isinstance(t, ast.Attribute) and t.attr == "requires_grad" for t in node.targets):
        return [Change([], "`.requires_grad = ...` removed")]
    return []


@mutation_operator("index")
def index(site: Site) -> list[Change]:
    """A constant index changed: ``[0]`` -> ``[1]``, ``[-1]``; ``[1]`` -> ``[0]``, ``[-1]``; ``[k]`` -> ``[0]``, ``[1]``, ``[-1]``."""
    if not _is_index(site):
        return []
    value = _value(site.node)
    return [Change(_literal(new), f"`[{value}]` -> `[{new}]`") for new in (0, 1, -1) if new != value]


@mutation_operator("loop_bound")
def loop_bound(site: Site) -> list[Change]:
    """A ``for ... in range(...)`` loop's bound off by one (a literal bound is left to ``constant``)."""
    parent = site.parent
    if not (isinstance(parent, ast.Call) and _callee(parent) == "range" and site.field == "args" and len(parent.args) in (1, 2, 3)):
        return []
    stop = 0 if len(parent.args) == 1 else 1
    node = site.node
    if site.index != stop or _number(node) or not isinstance(node, ast.expr):
        return []
    return [Change(ast.BinOp(_copy(node), op(), ast.Constant(1)), f"loop bound `{_text(node)}` -> `{_text(node)} {_op(op())} 1`")
            for op in (ast.Add, ast.Sub)]


@mutation_operator("segments")
def segments(site: Site) -> list[Change]:
    """A segment (or chunk) count changed: ``n`` -> ``n + 1``, ``n - 1``, ``1``, ``n * 2``, for a name or keyword saying segments or chunks."""
    node = site.node
    named = isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and bool(_SEGMENT_NAME.search(node.id))
    keyword = isinstance(site.parent, ast.keyword) and bool(_SEGMENT_NAME.search(site.parent.arg or ""))
    if not (named or keyword) or _number(node) or not isinstance(node, ast.expr):
        return []
    if isinstance(site.parent, (ast.Attribute, ast.Call)) and site.field in ("value", "func"):
        return []  # `segments.append(...)`: an object, not a count
    text = _text(node)
    news: list[ast.expr] = [ast.BinOp(_copy(node), ast.Add(), ast.Constant(1)), ast.BinOp(_copy(node), ast.Sub(), ast.Constant(1)),
                            ast.Constant(1), ast.BinOp(_copy(node), ast.Mult(), ast.Constant(2))]
    return [Change(new, f"segment count `{text}` -> `{_text(new)}`") for new in news]


@mutation_operator("return_out_of_loop")
def return_out_of_loop(site: Site) -> list[Change]:
    """A ``return`` inside a loop's body moved to just after the loop."""
    node = site.node
    if not isinstance(node, (ast.For, ast.While, ast.AsyncFor)):
        return []
    changes = []
    for number in range(len(list(_loop_returns(node.body)))):
        moved = _copy(node)
        found = list(_loop_returns(moved.body))[number]
        block, position = found
        returned = block.pop(position)
        if not block:
            block.append(ast.Pass())
        changes.append(Change([moved, returned], f"`{_short_text(returned)}` moved out of the loop"))
    return changes


# ------------------------------------------------------------------ operator helpers


def _copy(node: _T) -> _T:
    return copy.deepcopy(node)


def _number(node: ast.AST) -> bool:
    """A number literal: a constant int or float, or a unary minus on one (``-1`` is not a constant in the tree)."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return isinstance(node.operand, ast.Constant) and type(node.operand.value) in (int, float)
    return isinstance(node, ast.Constant) and type(node.value) in (int, float)


def _value(node: ast.AST) -> int | float:
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_value(node.operand)
    assert isinstance(node, ast.Constant) and isinstance(node.value, (int, float))
    return node.value


def _literal(value: int | float) -> ast.expr:
    """A number as source writes it: a negative one is a unary minus on a positive constant."""
    return ast.UnaryOp(ast.USub(), ast.Constant(-value)) if value < 0 else ast.Constant(value)


def _is_index(site: Site) -> bool:
    """An integer constant (perhaps negative) that is a subscript's whole index: ``a[0]``, ``a[-1]``."""
    node = site.node
    if isinstance(site.parent, ast.UnaryOp) and isinstance(site.parent.op, ast.USub):
        return False  # the `1` in `a[-1]`: the index is the unary minus around it
    integer = _number(node) and type(_value(node)) is int
    return integer and isinstance(site.parent, ast.Subscript) and site.field == "slice"


def _negated(site: Site) -> bool:
    return isinstance(site.parent, ast.UnaryOp) and isinstance(site.parent.op, ast.USub)


def _callee(node: ast.Call) -> str:
    func = node.func
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""


def _computes(value: ast.expr | None) -> bool:
    """A call of a function or method (not a class: ``nn.Linear(...)`` makes a module, not a tensor)."""
    if not isinstance(value, ast.Call):
        return False
    name = _callee(value)
    return bool(name) and not name[0].isupper()


def _computed_value(site: Site) -> bool:
    return isinstance(site.parent, (ast.Return, ast.Assign)) and site.field == "value" and isinstance(site.node, ast.expr) and _computes(site.node)


def _loop_returns(body: list[ast.stmt]) -> Iterator[tuple[list[ast.stmt], int]]:
    """(block, position) of each ``return`` in a loop body, looking into if/with/try blocks but not nested loops or functions."""
    for position, stmt in enumerate(body):
        if isinstance(stmt, ast.Return):
            yield body, position
        elif isinstance(stmt, (ast.If, ast.With, ast.AsyncWith, ast.Try)):
            for name in ("body", "orelse", "finalbody"):
                yield from _loop_returns(getattr(stmt, name, []))
            for handler in getattr(stmt, "handlers", []):
                yield from _loop_returns(handler.body)


_OP_TEXT = {
    ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**", ast.FloorDiv: "//", ast.Mod: "%", ast.MatMult: "@",
    ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Is: "is", ast.IsNot: "is not",
    ast.In: "in", ast.NotIn: "not in", ast.And: "and", ast.Or: "or",
}


def _op(op: ast.AST) -> str:
    return _OP_TEXT.get(type(op), type(op).__name__)


def _text(node: ast.AST) -> str:
    return ast.unparse(node)


def _short_text(node: ast.AST, limit: int = 40) -> str:
    text = " ".join(ast.unparse(node).split())
    return shorten(text, limit)


def _short(node: ast.Constant) -> str:
    return f"`{_short_text(node, 30)}`"


# ------------------------------------------------------------------ walking and applying


def mutate(source: str, context: RegionContext = RegionContext()) -> list[Mutation]:
    """Every mutant of one region's ``source``, in a fixed order (by place, then by operator), each with one change.

    Source that is not valid Python on its own (after removing its common
    indentation) gives no mutants.
    """
    indent, text = _dedent(source)
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return []
    sites = list(_sites(tree, context))
    found: list[Mutation] = []
    seen = {text}
    for site in sites:
        for name, fn in OPERATORS.items():
            for change in fn(site):
                mutated = _render(text, tree, site, change)
                if mutated is None or mutated in seen:
                    continue
                seen.add(mutated)
                found.append(Mutation(name, change.what, _line(site.node, tree, site), _restore(source, text, mutated, indent)))
    return found


_SKIPPED_FIELDS = {"annotation", "returns", "type_comment", "decorator_list"}


def _sites(tree: ast.Module, context: RegionContext) -> Iterator[Site]:
    """The nodes operators may change, in a fixed pre-order, with where each sits."""

    def visit(node: ast.AST, parent: ast.AST | None, field: str, index: int | None, path: tuple[tuple[str, int | None], ...],
              statement: tuple[tuple[str, int | None], ...]) -> Iterator[Site]:
        if _excluded(node):
            return
        if isinstance(node, ast.stmt):
            statement = path
        yield Site(node, parent, field, index, path, statement, context)
        for name, value in ast.iter_fields(node):
            if name in _SKIPPED_FIELDS:
                continue
            if isinstance(value, list):
                for position, child in enumerate(value):
                    if isinstance(child, ast.AST):
                        yield from visit(child, node, name, position, (*path, (name, position)), statement)
            elif isinstance(value, ast.AST):
                yield from visit(value, node, name, None, (*path, (name, None)), statement)

    for position, stmt in enumerate(tree.body):
        yield from visit(stmt, tree, "body", position, (("body", position),), (("body", position),))


def _excluded(node: ast.AST) -> bool:
    if isinstance(node, (ast.Import, ast.ImportFrom, ast.Global, ast.Nonlocal, ast.Assert, ast.JoinedStr)):
        return True
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
        return True  # a docstring or a bare string
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call) and _callee(node.value) == "print":
        return True
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print"


def _resolve(tree: ast.AST, path: tuple[tuple[str, int | None], ...]) -> tuple[ast.AST, str, int | None, ast.AST]:
    """The parent, field and index of the node at ``path``, and the node."""
    parent: ast.AST = tree
    node: ast.AST = tree
    field, index = "", None
    for field, index in path:
        parent = node
        value = getattr(node, field)
        node = value[index] if index is not None else value
    return parent, field, index, node


def _apply(tree: ast.Module, site: Site, change: Change) -> ast.Module:
    mutated = copy.deepcopy(tree)
    parent, field, index, _ = _resolve(mutated, site.path)
    replacement = copy.deepcopy(change.replacement)
    if isinstance(replacement, list):
        block = getattr(parent, field)
        assert index is not None
        block[index : index + 1] = replacement
        if not block:
            block.append(ast.Pass())
    elif index is not None:
        getattr(parent, field)[index] = replacement
    else:
        setattr(parent, field, replacement)
    return ast.fix_missing_locations(mutated)


def _render(text: str, tree: ast.Module, site: Site, change: Change) -> str | None:
    """The region's text with only the change made, or None when no text gives exactly the mutated tree."""
    mutated = _apply(tree, site, change)
    expected = ast.dump(mutated)
    lines = text.split("\n")
    candidates: list[str | None] = []
    if isinstance(change.replacement, ast.expr):
        new = ast.unparse(change.replacement)
        candidates += [_replace_span(lines, site.node, new), _replace_span(lines, site.node, f"({new})")]
        statement = _resolve(mutated, site.statement)[3]
        assert isinstance(statement, ast.stmt)
        candidates.append(_replace_lines(lines, _resolve(tree, site.statement)[3], [statement]))
    else:  # statements: a removed one leaves no line, or a `pass` where its block would be empty
        candidates += [_replace_lines(lines, site.node, change.replacement), _replace_lines(lines, site.node, [ast.Pass()])]
    for candidate in candidates:
        if candidate is not None and _parses_to(candidate, expected):
            return candidate
    return None


def _parses_to(text: str, expected: str) -> bool:
    try:
        return ast.dump(ast.parse(text)) == expected
    except SyntaxError:
        return False


def _replace_span(lines: list[str], node: ast.AST, new: str) -> str | None:
    """``lines`` with the exact characters of ``node`` replaced by ``new`` (offsets count UTF-8 bytes)."""
    start, col = getattr(node, "lineno", None), getattr(node, "col_offset", None)
    end, end_col = getattr(node, "end_lineno", None), getattr(node, "end_col_offset", None)
    if start is None or col is None or end is None or end_col is None:
        return None
    head = lines[start - 1].encode()[:col].decode()
    tail = lines[end - 1].encode()[end_col:].decode()
    return "\n".join([*lines[: start - 1], head + new + tail, *lines[end:]])


def _replace_lines(lines: list[str], node: ast.AST, statements: list[ast.stmt]) -> str | None:
    """``lines`` with the whole lines of statement ``node`` replaced by ``statements`` at its indentation."""
    decorators = getattr(node, "decorator_list", [])
    start = min([getattr(node, "lineno", 0), *(d.lineno for d in decorators)])
    end = getattr(node, "end_lineno", None)
    if not start or end is None:
        return None
    first = lines[start - 1]
    indent = first[: len(first) - len(first.lstrip())]
    before = first.encode()[: getattr(node, "col_offset", 0)].decode()
    after = lines[end - 1].encode()[getattr(node, "end_col_offset", 0) :].decode()
    if before.strip() or after.strip().startswith(";"):
        return None  # shares its line with another statement
    module = ast.fix_missing_locations(ast.Module(body=copy.deepcopy(statements), type_ignores=[]))
    body = [indent + line if line else line for line in ast.unparse(module).split("\n")] if statements else []
    return "\n".join([*lines[: start - 1], *body, *lines[end:]])


def _line(node: ast.AST, tree: ast.Module, site: Site) -> int:
    for where in (node, _resolve(tree, site.statement)[3]):
        line = getattr(where, "lineno", None)
        if isinstance(line, int):
            return line
    return 1


def _dedent(source: str) -> tuple[str, str]:
    """The common indentation of the non-blank lines, and the source without it."""
    lines = source.split("\n")
    filled = [line for line in lines if line.strip()]
    if not filled:
        return "", source
    indent = filled[0][: len(filled[0]) - len(filled[0].lstrip())]
    for line in filled[1:]:
        while not line.startswith(indent):
            indent = indent[:-1]
    return indent, "\n".join(line[len(indent) :] if line.strip() else "" for line in lines)


def _restore(source: str, text: str, mutated: str, indent: str) -> str:
    """The mutated text at the region's indentation, with every line the change did not touch exactly as in ``source``."""
    original, dedented, new = source.split("\n"), text.split("\n"), mutated.split("\n")
    out: list[str] = []
    for tag, a0, a1, b0, b1 in difflib.SequenceMatcher(None, dedented, new, autojunk=False).get_opcodes():
        if tag == "equal":
            out += original[a0:a1]
        else:
            out += [indent + line if line.strip() else line for line in new[b0:b1]]
    return "\n".join(out)
