"""An architecture: one choice per decision of its space, as a small readable YAML/JSON file.

```yaml
space: fbnet
choices: {s1.0: k3_e1, s2.0: k3_e6, s2.1: k5_e1, ...}
```
The file records the space and the overrides the space was loaded with (variant, width, classes),
so ``Arch.load(path)`` + ``load_space(arch.space, **arch.space_args)`` rebuild the same net.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Mapping

import yaml

from nas.io import atomic_write_text
from nas.space.errors import SpaceError


@dataclass(frozen=True)
class Arch:
    space: str
    choices: Dict[str, Any]
    space_args: Dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, label: str) -> Any:
        return self.choices[label]

    def to_dict(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {"space": self.space, "choices": dict(self.choices)}
        if self.space_args:
            out["space_args"] = dict(self.space_args)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "<arch>") -> "Arch":
        if not isinstance(data, Mapping):
            raise SpaceError(source, "<top level>", "a mapping with keys 'space' and 'choices'", type(data).__name__)
        unknown = set(data) - {"space", "choices", "space_args"}
        if unknown:
            raise SpaceError(source, str(sorted(unknown, key=str)[0]), "only the keys space, choices, space_args")
        if not isinstance(data.get("space"), str):
            raise SpaceError(source, "space", "the name or path of a search space", data.get("space"))
        if not isinstance(data.get("choices"), Mapping):
            raise SpaceError(source, "choices", "a mapping {decision label: choice}", data.get("choices"))
        args = data.get("space_args") or {}
        if not isinstance(args, Mapping):
            raise SpaceError(source, "space_args", "a mapping of load_space overrides", args)
        return cls(data["space"], {str(k): v for k, v in data["choices"].items()}, dict(args))

    def dumps(self, fmt: str = "yaml") -> str:
        if fmt == "json":
            return json.dumps(self.to_dict(), indent=2) + "\n"
        return yaml.safe_dump(self.to_dict(), sort_keys=False, default_flow_style=False)

    @classmethod
    def loads(cls, text: str, source: str = "<arch>") -> "Arch":
        try:
            data = yaml.safe_load(text)  # JSON is YAML
        except yaml.YAMLError as err:
            raise SpaceError(source, "<file>", f"valid YAML or JSON ({err.__class__.__name__})") from None
        return cls.from_dict(data, source)

    def save(self, path: str | os.PathLike) -> Path:
        """Write atomically (temp file + rename); ``.json`` suffix writes JSON, anything else YAML."""
        path = Path(path)
        return atomic_write_text(path, self.dumps("json" if path.suffix == ".json" else "yaml"))

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Arch":
        path = Path(path)
        if not path.is_file():
            raise SpaceError(str(path), "<file>", "an existing arch file (YAML or JSON)")
        return cls.loads(path.read_text(), str(path))
