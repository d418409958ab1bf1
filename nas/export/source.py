"""Collect, transitively, the source of every package definition a network needs, as standalone code.

:class:`SourceCollector` takes a class or function of this package (a block, a layer, a helper),
reads its source and rewrites it so it stands alone:

- registry decorators (``@BLOCKS.register(...)``) and other decorators from this package are removed;
- methods that ``__init__``/``forward``/``extra_repr`` never reach (training-time helpers, usually
  ``@torch.jit.unused``) are left out, so what they use is not pulled in;
- every global name the kept code reads is resolved in its module: package classes/functions are
  collected in turn (renamed on a clash), constants are written as literals, ``torch`` modules and
  ``typing`` names become imports, ``math.ceil``/``math.floor`` become small helpers (the file imports
  only torch and typing), and a few package functions built on registries (``create_act``) are
  replaced by plain code generated from the registry.

Formatting and comments of the kept code are preserved: edits are made on the text at AST positions.
"""

from __future__ import annotations

import ast
import builtins
import inspect
import sys
import textwrap
import typing
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Set, Tuple

import torch

from nas.export.ast_text import TextEdits, free_names, root_name
from nas.export.errors import ExportError
from nas.export.literals import is_literal, literal

Key = Tuple[str, str]

KEPT_METHODS = ("__init__", "forward", "extra_repr")

MATH_HELPERS = {
    "ceil": '''def _ceil(x: float) -> int:
    """``math.ceil`` (written out so that this file imports nothing but torch)."""
    n = int(x)
    return n + 1 if n < x else n''',
    "floor": '''def _floor(x: float) -> int:
    """``math.floor`` (written out so that this file imports nothing but torch)."""
    n = int(x)
    return n - 1 if n > x else n''',
}


@dataclass
class Definition:
    key: Key
    name: str
    text: str
    is_constant: bool = False


def _is_package(obj: Any) -> bool:
    mod = getattr(obj, "__module__", None) or ""
    return mod == "nas" or mod.startswith("nas.")


class SourceCollector:
    """Standalone definitions of package objects, emitted in dependency order."""

    def __init__(self, reserved: Sequence[str] = (),
                 replacements: Optional[Dict[Key, Callable[[], Tuple[str, Dict[str, Any]]]]] = None):
        self.defs: Dict[Key, Definition] = {}
        self.order: List[Key] = []
        self.owner: Dict[str, Optional[Key]] = {n: None for n in reserved}
        self.imports: Set[str] = set()
        self.typing_names: Set[str] = set()
        self.replacements = dict(replacements or {})
        self._in_progress: Set[Key] = set()
        self._pending_name: Dict[Key, str] = {}
        self._const_values: Dict[str, Any] = {}

    # --- names -----------------------------------------------------------------------------------
    def _allocate(self, wanted: str, key: Key) -> str:
        for d in self.defs.values():
            if d.key == key:
                return d.name
        candidates = [wanted, f"{wanted}_{key[0].rsplit('.', 1)[-1]}"] + [f"{wanted}_{i}" for i in range(2, 100)]
        for name in candidates:
            if name not in self.owner and name not in self.typing_names:
                self.owner[name] = key
                return name
        raise ExportError(key[0], key[1], "a name that does not clash in the generated file")

    def reserve(self, name: str) -> None:
        if name in self.owner:
            raise ExportError("<generated file>", name, "a free name (it is already used)")
        self.owner[name] = None

    def use_torch(self, alias: str = "nn") -> str:
        """Record the import that makes ``alias`` (``torch``, ``nn`` or ``F``) available."""
        mods = {"torch": torch, "nn": torch.nn, "F": torch.nn.functional}
        self._import_module(alias, mods[alias], "<generated code>")
        return alias

    def _import_module(self, alias: str, mod: Any, where: str) -> None:
        name = mod.__name__
        if name == "torch":
            line = "import torch" if alias == "torch" else f"import torch as {alias}"
        elif name.startswith("torch."):
            parent, _, last = name.rpartition(".")
            line = f"from {parent} import {last}" if alias == last else f"import {name} as {alias}"
        elif name == "typing":
            line = "import typing" if alias == "typing" else f"import typing as {alias}"
        else:
            raise ExportError(where, alias, "only torch and typing modules in the exported code", name)
        self.imports.add(line)
        self.owner.setdefault(alias, None)

    # --- objects ---------------------------------------------------------------------------------
    def require(self, obj: Any) -> str:
        """The emitted name of a package class or function (collecting its source on first use)."""
        key = (obj.__module__, obj.__qualname__)
        if key in self.defs or key in self._in_progress:
            return self.defs[key].name if key in self.defs else self._pending_name[key]
        if key in self.replacements:
            text, namespace = self.replacements[key]()
            return self._add(key, obj.__name__, text, namespace, drop_decorators=False)
        if "<locals>" in obj.__qualname__ or "." in obj.__qualname__:
            raise ExportError(f"{obj.__module__}.{obj.__qualname__}", "definition",
                              "a class or function defined at module level")
        try:
            text = textwrap.dedent(inspect.getsource(obj))
        except (OSError, TypeError) as err:
            raise ExportError(f"{obj.__module__}.{obj.__qualname__}", "source", "readable source code",
                              str(err)) from None
        namespace = vars(sys.modules[obj.__module__])
        return self._add(key, obj.__name__, text, namespace)

    def require_helper(self, name: str) -> str:
        key = ("<helper>", name)
        if key in self.defs or key in self._in_progress:
            return self.defs[key].name if key in self.defs else self._pending_name[key]
        text = MATH_HELPERS[name]
        return self._add(key, f"_{name}", text, {})

    def require_constant(self, name: str, value: Any, module: str) -> str:
        key = (module, name)
        if key in self.defs:
            return self.defs[key].name
        if name in self._const_values and self._const_values[name] == value:
            return name  # the same constant from another module: share it
        emitted = self._allocate(name, key)
        self._const_values.setdefault(emitted, value)
        self.defs[key] = Definition(key, emitted, f"{emitted} = {literal(value, multiline=True)}", is_constant=True)
        self.order.append(key)
        return emitted

    def _add(self, key: Key, wanted: str, text: str, namespace: Dict[str, Any], drop_decorators: bool = True) -> str:
        name = self._allocate(wanted, key)
        self._pending_name[key] = name
        self._in_progress.add(key)
        try:
            new_text = self._rewrite(key, text, namespace, name, drop_decorators)
        finally:
            self._in_progress.discard(key)
        self.defs[key] = Definition(key, name, new_text.rstrip() + "\n")
        self.order.append(key)
        return name

    # --- rewriting -------------------------------------------------------------------------------
    def _rewrite(self, key: Key, text: str, namespace: Dict[str, Any], name: str, drop_decorators: bool) -> str:
        """``text`` (one definition) made standalone: decorators, unreached methods, names (see module doc)."""
        where = f"{key[0]}.{key[1]}"
        tree = ast.parse(text)
        edit = TextEdits(text)
        kept: List[ast.AST] = []
        for node in tree.body:
            if not isinstance(node, (ast.ClassDef, ast.FunctionDef)):
                kept.append(node)
                continue
            for dec in node.decorator_list:
                root = root_name(dec)
                target = namespace.get(root) if root else None
                if drop_decorators and root and (_is_package(target) or type(target).__module__ == "nas.registry"):
                    edit.delete_lines(dec.lineno, dec.end_lineno)
                else:
                    kept.append(dec)
            if isinstance(node, ast.ClassDef):
                kept += [*node.bases, *node.keywords]
                kept += self._filter_methods(node, edit)[0]
            else:
                kept.append(node)
            if node.name != name:
                line = edit.lines[node.lineno - 1]
                col = line.index(node.name, line.index("class " if isinstance(node, ast.ClassDef) else "def "))
                start = edit.starts[node.lineno - 1] + col
                edit.edits.append((start, start + len(node.name), name))
        math_attrs = {id(n.value): n for n in ast.walk(tree) if isinstance(n, ast.Attribute)
                      and isinstance(n.value, ast.Name)}
        defs = [n for n in tree.body if isinstance(n, (ast.ClassDef, ast.FunctionDef))]
        decorators = [d.decorator_list for d in defs]
        for d in defs:  # their kept decorators are in ``kept`` already
            d.decorator_list = []
        try:
            names = self._unique(free_names(kept))
        finally:
            for d, decs in zip(defs, decorators):
                d.decorator_list = decs
        for node in names:
            emitted = self._resolve(node, namespace, where, math_attrs, edit)
            if emitted is not None and emitted != node.id:
                edit.replace(node, emitted)
        return edit.apply()

    @staticmethod
    def _unique(nodes: List[ast.Name]) -> List[ast.Name]:
        seen, out = set(), []
        for n in nodes:
            if id(n) not in seen:
                seen.add(id(n))
                out.append(n)
        return out

    @staticmethod
    def _filter_methods(cls: ast.ClassDef, edit: TextEdits,
                        exclude: Sequence[str] = ()) -> Tuple[List[ast.AST], List[ast.FunctionDef]]:
        """Keep ``__init__``, ``forward``, ``extra_repr`` (minus ``exclude``) and the methods they reach."""
        methods = {n.name: n for n in cls.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
        keep = [m for m in KEPT_METHODS if m in methods and m not in exclude]
        i = 0
        while i < len(keep):
            for node in ast.walk(methods[keep[i]]):
                if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                        and node.value.id in ("self", "cls", cls.name) and node.attr in methods
                        and node.attr not in keep):
                    keep.append(node.attr)
            i += 1
        kept, prev_end = [], cls.body[0].lineno - 1
        for stmt in cls.body:
            first = stmt.decorator_list[0].lineno if getattr(stmt, "decorator_list", None) else stmt.lineno
            is_method = isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef))
            if is_method and (stmt.name not in keep or stmt.name in exclude):
                start = first
                while start - 1 > prev_end and edit.is_blank_or_comment(start - 1):
                    start -= 1
                edit.delete_lines(start, stmt.end_lineno)
            else:
                kept.append(stmt)
            prev_end = stmt.end_lineno
        return kept, [s for s in kept if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef))]

    def _resolve(self, node: ast.Name, namespace: Dict[str, Any], where: str, math_attrs: Dict[int, ast.Attribute],
                 edit: TextEdits) -> Optional[str]:
        """Make the global ``node`` names available; returns its emitted name (None: keep it as is)."""
        n = node.id
        if n not in namespace:
            if hasattr(builtins, n) or n in self.owner:
                return None
            raise ExportError(where, n, "a name defined in its module (cannot resolve it)")
        obj = namespace[n]
        if inspect.ismodule(obj):
            if obj.__name__ == "math":
                attr = math_attrs.get(id(node))
                if attr is None or attr.attr not in MATH_HELPERS:
                    raise ExportError(where, f"math.{getattr(attr, 'attr', '?')}",
                                      f"only math.{' / math.'.join(MATH_HELPERS)} in exported code")
                edit.replace(attr, self.require_helper(attr.attr))
                return None
            self._import_module(n, obj, where)
            return None
        if getattr(typing, n, None) is obj and not _is_package(obj):
            self.typing_names.add(n)
            return None
        if _is_package(obj) and (inspect.isclass(obj) or inspect.isfunction(obj)):
            return self.require(obj)
        if is_literal(obj):
            return self.require_constant(n, obj, namespace.get("__name__", where))
        mod = getattr(obj, "__module__", "") or ""
        if mod.startswith("torch") and getattr(torch, n, None) is obj:
            self.imports.add(f"from torch import {n}")
            return None
        raise ExportError(where, n, "a class, function or constant with a standalone form",
                          f"{type(obj).__module__}.{type(obj).__name__}")

    # --- the top-level network class -------------------------------------------------------------
    def methods_of(self, cls: type, exclude: Sequence[str] = ("__init__", "extra_repr")) -> str:
        """Source of ``cls``'s kept methods other than ``exclude`` (indented for a class body)."""
        if not _is_package(cls):
            raise ExportError(f"{cls.__module__}.{cls.__qualname__}", "network class",
                              "a network class of this package")
        text = textwrap.dedent(inspect.getsource(cls))
        namespace = vars(sys.modules[cls.__module__])
        tree = ast.parse(text)
        node = tree.body[0]
        edit = TextEdits(text)
        methods = [m for m in self._filter_methods(node, edit, exclude)[1] if m.name not in exclude]
        math_attrs = {id(n.value): n for n in ast.walk(tree) if isinstance(n, ast.Attribute)
                      and isinstance(n.value, ast.Name)}
        where = f"{cls.__module__}.{cls.__qualname__}"
        for name_node in self._unique(free_names(methods)):
            emitted = self._resolve(name_node, namespace, where, math_attrs, edit)
            if emitted is not None and emitted != name_node.id:
                edit.replace(name_node, emitted)
        # Cut the edited class down to its kept methods (re-parse the edited text to find them).
        edited = edit.apply()
        new_node = ast.parse(edited).body[0]
        lines = edited.splitlines(keepends=True)
        out = []
        for stmt in new_node.body:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)) and stmt.name not in exclude:
                first = stmt.decorator_list[0].lineno if stmt.decorator_list else stmt.lineno
                out.append("".join(lines[first - 1:stmt.end_lineno]).rstrip() + "\n")
        return "\n".join(out)

    def self_attributes(self, cls: type, exclude: Sequence[str] = ("__init__", "extra_repr")) -> Set[str]:
        """``self.<attr>`` names read by the kept methods of ``cls``."""
        text = textwrap.dedent(inspect.getsource(cls))
        node = ast.parse(text).body[0]
        methods = self._filter_methods(node, TextEdits(text), exclude)[1]
        return {n.attr for m in methods if m.name not in exclude for n in ast.walk(m)
                if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id == "self"}

    # --- output ----------------------------------------------------------------------------------
    def import_lines(self) -> List[str]:
        lines = []
        if self.typing_names:
            lines.append(f"from typing import {', '.join(sorted(self.typing_names))}")
            lines.append("")
        order = {"import torch": 0}
        lines += sorted(self.imports, key=lambda s: (order.get(s, 1 if s.startswith("import") else 2), s))
        return lines

    def definitions(self) -> List[Definition]:
        """Constants first, then classes and functions, every one after what it uses."""
        return [self.defs[k] for k in self.order if self.defs[k].is_constant] + \
               [self.defs[k] for k in self.order if not self.defs[k].is_constant]
