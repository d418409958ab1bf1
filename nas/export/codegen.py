"""Write a network as one standalone, readable Python file.

The network is built while :func:`~nas.export.record.record_constructors` is active, so every module
has the constructor call its builder made. The file holds:

1. the source of every block, layer and helper those calls need (:class:`SourceCollector`);
2. one network class whose ``__init__`` spells the network out, module by module, with the recorded
   calls (``MBConv(16, 24, 2, kernel_size=3, exp_ratio=6)``), stages as named locals, and whose
   ``forward`` is the original network's;
3. ``build_model()``.

Each recorded call is checked by rebuilding it on the ``meta`` device: if the module was changed after
construction (a submodule swapped, as CondenseNet does with its classifier), the generated code
assigns the changed submodule after the call. The result has the original's state_dict keys.
"""

from __future__ import annotations

import keyword
import textwrap
from typing import Any, Callable, Dict, List, Optional, Tuple

from torch import nn

from nas.export.errors import ExportError
from nas.export.literals import WIDTH, is_literal, literal
from nas.export.prelude import replacements
from nas.export.record import Call, Records, record_constructors
from nas.export.source import SourceCollector

CONTAINERS = (nn.Sequential, nn.ModuleList)


def _signature(m: nn.Module) -> Tuple:
    """Structure of a module: submodule names and types, parameter and buffer names, shapes, dtypes."""
    mods = tuple((n, type(x)) for n, x in m.named_modules())
    tensors = tuple((n, tuple(t.shape), t.dtype) for n, t in [*m.named_parameters(), *m.named_buffers()])
    return mods, tensors


def _own_tensors(m: nn.Module) -> Tuple:
    return tuple((n, tuple(t.shape), t.dtype) for n, t in [*m.named_parameters(recurse=False),
                                                            *m.named_buffers(recurse=False)])


def _is_torch_module(cls: type) -> bool:
    return getattr(nn, cls.__name__, None) is cls


class NetworkWriter:
    """Generate the standalone source of one network built under the recorder."""

    def __init__(self, model: nn.Module, records: Records, comments: Optional[Dict[int, str]] = None):
        self.model = model
        self.records = records
        self.comments = dict(comments or {})
        self.names = {id(m): n or "<network>" for n, m in model.named_modules(remove_duplicate=False)}
        self.collector = SourceCollector(reserved=("build_model", "torch", "nn", "F", "self"),
                                         replacements=replacements(model))
        self._seen: set = set()
        self._locals = 0

    # --- expressions -----------------------------------------------------------------------------
    def _where(self, m: nn.Module) -> str:
        return f"module '{self.names.get(id(m), '?')}' ({type(m).__name__})"

    def _call_name(self, cls: type) -> str:
        if _is_torch_module(cls):
            return f"{self.collector.use_torch('nn')}.{cls.__name__}"
        if cls.__module__ == "nas" or cls.__module__.startswith("nas."):
            return self.collector.require(cls)
        raise ExportError(f"{cls.__module__}.{cls.__qualname__}", "module class",
                          "a torch.nn module or a module of this package")

    def _patches(self, m: nn.Module, call: Call) -> List[Tuple[str, nn.Module]]:
        """Submodules of ``m`` that differ from what ``call`` builds (to be assigned after the call)."""
        rebuilt = call.rebuild("meta")
        if _signature(rebuilt) == _signature(m):
            return []
        if _own_tensors(rebuilt) != _own_tensors(m):
            raise ExportError(self._where(m), "parameters", "the parameters its constructor call creates "
                              f"({call.cls.__name__}(...) was changed after construction)")
        built = dict(rebuilt.named_children())
        actual = dict(m.named_children())
        missing = [n for n in built if n not in actual]
        if missing:
            raise ExportError(self._where(m), missing[0], "the submodules its constructor call creates "
                              "(one was removed after construction)")
        return [(n, c) for n, c in actual.items()
                if n not in built or type(built[n]) is not type(c) or _signature(built[n]) != _signature(c)]

    def expr(self, m: nn.Module, depth: int, stmts: List[str],
             patches_out: Optional[List[Tuple[str, nn.Module]]] = None) -> str:
        """Source expression building ``m``; statements it needs first go to ``stmts``.

        A module changed after construction gets its changed submodules assigned after the call: into
        ``patches_out`` when given (the caller assigns them), else by hoisting it into a local.
        """
        if id(m) in self._seen:
            raise ExportError(self._where(m), "sharing", "each module used once (shared submodules are not exported)")
        self._seen.add(id(m))
        call = self.records.get(m)
        if call is None:
            raise ExportError(self._where(m), "constructor call", "a module built while nas.export records "
                              "(copied or deserialised modules cannot be written as code)")
        patches = self._patches(m, call)
        args = [(None, a) for a in call.args] + list(call.kwargs.items())
        text = self._format_call(self._call_name(call.cls), args, depth, isinstance(m, CONTAINERS), stmts)
        if not patches:
            return text
        if patches_out is not None:
            patches_out.extend(patches)
            return text
        self._locals += 1  # hoist it: build, patch, then use the local
        var = f"module_{self._locals}"
        stmts.append(f"{var} = {text}")
        stmts.extend(self._assign_patches(var, patches))
        return var

    def _assign_patches(self, var: str, patches: List[Tuple[str, nn.Module]]) -> List[str]:
        """Statements assigning the changed submodules ``patches`` to ``var`` (after its constructor call)."""
        out: List[str] = []
        for name, child in patches:
            value = self.expr(child, 2, out)
            if name.isidentifier() and not keyword.iskeyword(name):
                out.append(f"{var}.{name} = {value}")
            else:
                out.append(f"{var}.add_module({literal(name)}, {value})")
        return out

    def _arg(self, value: Any, depth: int, stmts: List[str]) -> Tuple[str, bool]:
        """(text, is_module) of one constructor argument."""
        if isinstance(value, nn.Module):
            text = self.expr(value, depth, stmts)
            comment = self.comments.get(id(value))
            return (text + f"  # {comment}" if comment else text), True
        if isinstance(value, (list, tuple)) and any(isinstance(v, nn.Module) for v in value):
            items = [self._arg(v, depth + 1, stmts)[0] for v in value]
            open_, close = ("[", "]") if isinstance(value, list) else ("(", ")")
            body = "".join(textwrap.indent(_with_comma(i), "    ") + "\n" for i in items)
            return f"{open_}\n{body}{close}", True
        if not is_literal(value):
            raise ExportError("constructor argument", repr(value)[:60], "a literal (number, string, container)",
                              type(value).__name__)
        return literal(value), False

    def _format_call(self, fn: str, args: List[Tuple[Optional[str], Any]], depth: int, container: bool,
                     stmts: List[str]) -> str:
        """``fn(args)`` on one line if it fits, else one module argument a line and the others grouped."""
        parts = []
        for kw, value in args:
            text, is_module = self._arg(value, depth + 1, stmts)
            parts.append(((f"{kw}={text}" if kw else text), is_module))
        one = f"{fn}({', '.join(p for p, _ in parts)})"
        multi = container and any(is_mod for _, is_mod in parts)
        if not multi and "\n" not in one and "#" not in one and len(one) + 4 * depth <= WIDTH:
            return one
        lines, group = [], []

        def flush():
            if group:
                lines.append(", ".join(group) + ",")
                group.clear()

        for text, is_module in parts:
            if is_module or "\n" in text:
                flush()
                lines.append(_with_comma(text))
            elif group and len(", ".join(group + [text])) + 4 * (depth + 1) > WIDTH:
                flush()
                group.append(text)
            else:
                group.append(text)
        flush()
        body = "".join(textwrap.indent(line, "    ") + "\n" for line in lines)
        return f"{fn}(\n{body})"

    # --- the network class -----------------------------------------------------------------------
    def network_class(self, class_name: str, doc: str, source_cls: type, stage_prefix: Dict[str, str]) -> str:
        """The network class: literal attributes, one statement per child, ``init_weights``, the forward."""
        m = self.model
        c = self.collector
        c.reserve(class_name)
        lines = [f"class {class_name}(nn.Module):", textwrap.indent(_docstring(doc), "    "), "",
                 "    def __init__(self) -> None:", "        super().__init__()"]
        used = c.self_attributes(source_cls)
        for k, v in vars(m).items():
            if k == "training" or (k.startswith("_") and k not in used):
                continue
            if is_literal(v) and not isinstance(v, nn.Module):
                lines.append(f"        self.{k} = {literal(v)}")
            elif k in used:
                raise ExportError(f"{type(m).__name__}.{k}", "attribute", "a literal value", type(v).__name__)
        for n, p in m.named_parameters(recurse=False):
            lines.append(f"        self.{n} = nn.Parameter(torch.empty({literal(tuple(p.shape))}))")
            c.use_torch("torch")
        for n, b in m.named_buffers(recurse=False):
            lines.append(f"        self.register_buffer({literal(n)}, torch.empty({literal(tuple(b.shape))}, "
                         f"dtype={b.dtype}))")
            c.use_torch("torch")
        for name, child in m.named_children():
            lines.extend(self._child_lines(name, child, stage_prefix.get(name)))
        c.use_torch("nn")
        init = c.require(_init_weights())
        lines.append(f"        {init}(self)")
        methods = c.methods_of(source_cls)
        lines += ["", methods.rstrip()]
        return "\n".join(lines) + "\n"

    def _child_lines(self, name: str, child: nn.Module, prefix: Optional[str]) -> List[str]:
        """``self.<name> = ...``; a Sequential of Sequentials with a ``prefix`` gets its stages as named locals."""
        out: List[str] = []
        pad = "        "
        if prefix and isinstance(child, nn.Sequential) and len(child) and all(
                isinstance(s, nn.Sequential) for s in child) and self.records.get(child) is not None:
            self._seen.add(id(child))
            call = self.records.get(child)
            if self._patches(child, call) or call.kwargs or len(call.args) != len(child) or any(
                    a is not s for a, s in zip(call.args, child)):
                raise ExportError(self._where(child), "stages", "an nn.Sequential built from its stages")
            local_names = []
            for i, stage in enumerate(child):
                local = f"{prefix}{i + 1}"
                stmts: List[str] = []
                text = self.expr(stage, 2, stmts)
                comment = self.comments.get(id(stage))
                if comment:
                    out.append(f"{pad}# {comment}")
                out.extend(_indent_rest(stmts, pad))
                out.append(_indent_rest([f"{local} = {text}"], pad)[0])
                local_names.append(local)
            seq = f"{self.collector.use_torch('nn')}.Sequential({', '.join(local_names)})"
            if len(f"self.{name} = {seq}") + len(pad) > WIDTH:
                seq = "nn.Sequential(\n" + "".join(f"    {n},\n" for n in local_names) + ")"
            out.append(_indent_rest([f"self.{name} = {seq}"], pad)[0])
            return out
        stmts = []
        patches: List[Tuple[str, nn.Module]] = []
        text = self.expr(child, 2, stmts, patches_out=patches)
        comment = self.comments.get(id(child))
        if comment:
            out.append(f"{pad}# {comment}")
        out.extend(_indent_rest(stmts, pad))
        out.append(_indent_rest([f"self.{name} = {text}"], pad)[0])
        out.extend(_indent_rest(self._assign_patches(f"self.{name}", patches), pad))
        return out

    # --- the file --------------------------------------------------------------------------------
    def file(self, class_name: str, header: str, doc: str, source_cls: type,
             stage_prefix: Optional[Dict[str, str]] = None) -> str:
        cls_text = self.network_class(class_name, doc, source_cls, stage_prefix or {"stages": "stage"})
        defs = self.collector.definitions()
        blocks = ["\n".join(d.text.rstrip() for d in defs if d.is_constant)]
        blocks += [d.text.rstrip() for d in defs if not d.is_constant]
        blocks += [cls_text.rstrip(), f'def build_model() -> {class_name}:\n    """The network, freshly initialised '
                   f'(load ``weights.pt`` into it for the exported weights)."""\n    return {class_name}()']
        head = _docstring(header) + "\n\n" + "\n".join(self.collector.import_lines())
        return "\n\n\n".join([head] + [b for b in blocks if b]) + "\n"


def _init_weights():
    from nas.layers.classifier import init_weights
    return init_weights


def _with_comma(text: str) -> str:
    """Append a trailing comma to an item (before its trailing comment, if any)."""
    lines = text.split("\n")
    last = lines[-1]
    if "  # " in last and not last.strip().startswith("#"):
        code, comment = last.split("  # ", 1)
        lines[-1] = f"{code},  # {comment}"
    else:
        lines[-1] = last + ","
    return "\n".join(lines)


def _indent_rest(stmts: List[str], pad: str = "") -> List[str]:
    """Indent every line of each statement by ``pad`` (multi-line expressions keep their shape)."""
    return [textwrap.indent(s, pad, lambda line: True) for s in stmts]


def _docstring(text: str) -> str:
    text = text.strip().replace('"""', "'''")
    return f'"""{text}\n"""' if "\n" in text else f'"""{text}"""'


def build_recorded(build: Callable[[], nn.Module]) -> Tuple[nn.Module, Records]:
    """Call ``build()`` while recording every module's constructor call."""
    with record_constructors() as records:
        model = build()
    return model, records


def write_source(model: nn.Module, records: Records, class_name: str, header: str, doc: str,
                 comments: Optional[Dict[int, str]] = None) -> str:
    """The standalone file of a network returned by :func:`build_recorded`."""
    return NetworkWriter(model, records, comments).file(class_name, header, doc, type(model))


def generate(build: Callable[[], nn.Module], class_name: str, header: str, doc: str,
             annotate: Optional[Callable[[nn.Module], Dict[int, str]]] = None) -> Tuple[str, nn.Module]:
    """Build a network with ``build()`` while recording; return (its standalone source, the network)."""
    model, records = build_recorded(build)
    return write_source(model, records, class_name, header, doc, annotate(model) if annotate else None), model
