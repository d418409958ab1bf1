"""Reading and editing Python source at AST positions, for :mod:`nas.export.source`: the names a
piece of code reads from outside itself, and text edits that keep the rest of the text as it is."""

from __future__ import annotations

import ast
from typing import Iterable, List, Optional, Set, Tuple


def root_name(node: ast.AST) -> Optional[str]:
    while isinstance(node, (ast.Call, ast.Attribute, ast.Subscript)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def bound_names(fn: ast.AST) -> Set[str]:
    """Names local to a function or lambda: arguments and everything stored in its body."""
    a = fn.args
    names = {x.arg for x in [*a.posonlyargs, *a.args, *a.kwonlyargs]}
    names |= {x.arg for x in (a.vararg, a.kwarg) if x is not None}
    body = fn.body if isinstance(fn.body, list) else [fn.body]
    for stmt in body:
        for node in ast.walk(stmt):
            if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
                names.add(node.id)
            elif isinstance(node, ast.arg):
                names.add(node.arg)
            elif isinstance(node, ast.ExceptHandler) and node.name:
                names.add(node.name)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                names |= {(al.asname or al.name).split(".")[0] for al in node.names}
    return names


def free_names(nodes: Iterable[ast.AST]) -> List[ast.Name]:
    """Load-context ``Name`` nodes of ``nodes`` not bound by an enclosing function."""
    out: List[ast.Name] = []

    def visit(node: ast.AST, local: frozenset) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            a = node.args
            outer = [*getattr(node, "decorator_list", []), *a.defaults, *[d for d in a.kw_defaults if d is not None]]
            outer += [x.annotation for x in [*a.posonlyargs, *a.args, *a.kwonlyargs, a.vararg, a.kwarg]
                      if x is not None and x.annotation is not None]
            if getattr(node, "returns", None) is not None:
                outer.append(node.returns)
            for n in outer:
                visit(n, local)
            inner = local | bound_names(node)
            for n in node.body if isinstance(node.body, list) else [node.body]:
                visit(n, inner)
            return
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id not in local:
            out.append(node)
        for child in ast.iter_child_nodes(node):
            visit(child, local)

    for n in nodes:
        visit(n, frozenset())
    return out


class TextEdits:
    """Text edits at AST positions (AST columns are UTF-8 byte offsets)."""

    def __init__(self, text: str):
        self.text = text
        self.lines = text.splitlines(keepends=True)
        self.starts = [0]
        for line in self.lines:
            self.starts.append(self.starts[-1] + len(line))
        self.edits: List[Tuple[int, int, str]] = []

    def offset(self, lineno: int, col: int) -> int:
        line = self.lines[lineno - 1]
        return self.starts[lineno - 1] + len(line.encode()[:col].decode())

    def replace(self, node: ast.AST, text: str) -> None:
        self.edits.append((self.offset(node.lineno, node.col_offset),
                           self.offset(node.end_lineno, node.end_col_offset), text))

    def delete_lines(self, first: int, last: int) -> None:
        self.edits.append((self.starts[first - 1], self.starts[last], ""))

    def is_blank_or_comment(self, lineno: int) -> bool:
        s = self.lines[lineno - 1].strip()
        return not s or s.startswith("#")

    def apply(self) -> str:
        """The text with every edit made; edits inside a deleted span are dropped."""
        spans = sorted(set(self.edits), key=lambda e: (e[0], -e[1]))
        kept: List[Tuple[int, int, str]] = []
        for s, e, t in spans:
            if any(ks <= s and e <= ke and not kt and (ks, ke) != (s, e) for ks, ke, kt in kept):
                continue  # inside a deletion made earlier in the text
            if kept and s < kept[-1][1]:
                raise AssertionError(f"overlapping source edits at {s}")
            kept.append((s, e, t))
        text = self.text
        for s, e, t in reversed(kept):
            text = text[:s] + t + text[e:]
        return text
