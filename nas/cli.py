"""The one launcher of every Hydra app (``nas.search``, ``nas.train``, ``nas.latency``, ``nas.export``,
``nas.report``): user errors end in one ``error:`` line and exit code 2, wherever they arise.

>>> @hydra_app("train")
... def main(cfg): ...
>>> main()                      # python -m ...: parses sys.argv, returns the exit code
>>> main(["model=x", "epochs=1"])   # the same in-process (tests)

- A :class:`~nas.errors.NasError` raised by the task: ``error: <message>``, exit 2 (in a multirun:
  ``error: job <n>: <message>``, the other jobs go on, the job returns ``failed_value(cfg)``, and the
  sweep ends with one line naming the failed jobs and exit 2).
- Hydra's own user errors (an unknown group option such as ``method=foo``, a misspelled or ill-typed
  key, bad override syntax, a missing mandatory value): one line in the same style,
  ``command line: <key>: expected <what>, got <value>``, listing the known options (the structured-config
  schemas stored beside them, ``*_schema`` and ``schema``, left out), exit 2. ``HYDRA_FULL_ERROR=1``
  set by the user keeps Hydra's own reporting.
- A single run that fails leaves no Hydra run dir behind when the run produced nothing in it (only
  ``.hydra/`` and the log); a run or multirun job that did produce files gets a ``FAILED`` file with its
  error line instead.
- Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, List, Optional, Sequence

CONF_DIR = str(Path(__file__).resolve().parents[1] / "conf")
FAILED_MARKER = "FAILED"  # written into a run dir whose job failed after producing files
SOURCE = "command line"
HYDRA_FILES = (".hydra",)  # what Hydra itself writes into a run dir (plus the job's *.log)


def is_schema_option(name: str) -> bool:
    """Structured-config schemas live in the config groups beside the users' options: not an option."""
    return name == "schema" or name.endswith("_schema")


def _first_line(text: str) -> str:
    return next((line.strip() for line in str(text).splitlines() if line.strip()), "")


_TYPE_NAMES = {"Integer": "an integer", "Float": "a number", "Boolean": "true or false", "String": "a string",
               "Bytes": "bytes"}


def _section_keys(object_type: Any) -> List[str]:
    if object_type is not None and dataclasses.is_dataclass(object_type):
        return [f.name for f in dataclasses.fields(object_type)]
    return []


def hydra_error_message(err: BaseException, argv: Sequence[str] = ()) -> str:
    """One line ``command line: <key>: expected <what>[, got <value>]`` for Hydra's and OmegaConf's
    errors about the command line or the composed config."""
    from hydra.errors import MissingConfigException, OverrideParseException
    from omegaconf.errors import (ConfigAttributeError, ConfigKeyError, InterpolationResolutionError,
                                  MissingMandatoryValue, OmegaConfBaseException, ValidationError)

    text = str(err)
    if isinstance(err, MissingConfigException):
        m = re.search(r"Could not find '([^']+)'", text)
        if m and "/" in m.group(1):
            group, name = m.group(1).rsplit("/", 1)
            options = sorted(o for o in (err.options or []) if not is_schema_option(o))
            return f"{SOURCE}: {group}: expected one of {', '.join(options) or '(none)'}, got {name!r}"
        return f"{SOURCE}: {_first_line(text)}"
    if isinstance(err, OverrideParseException):
        from hydra.core.override_parser.overrides_parser import OverridesParser

        parser = OverridesParser.create()
        for item in argv:
            if item.startswith("-"):
                continue
            try:
                parser.parse_override(item)
            except Exception as bad:  # noqa: BLE001 - the override the parser chokes on
                return (f"{SOURCE}: {item}: expected key=value in Hydra's override syntax (quote values holding "
                        f"'=', ',', brackets or spaces: key='a=b'), got a parse error ({_first_line(str(bad))})")
        return f"{SOURCE}: expected key=value overrides ({_first_line(text)})"
    m = re.search(r"An item is already at '([^']+)'", text)
    if m:
        return f"{SOURCE}: +{m.group(1)}: expected no '+' (the key exists: {m.group(1)}=...)"
    cause = err if isinstance(err, OmegaConfBaseException) else err.__cause__
    if isinstance(cause, OmegaConfBaseException):
        key = getattr(cause, "full_key", None) or "<config>"
        msg = _first_line(getattr(cause, "msg", None) or str(cause))
        if isinstance(cause, ValidationError):
            m = re.search(r"Value '(.*)' of type '\w+' could not be converted to (\w+)", msg)
            if m:
                return f"{SOURCE}: {key}: expected {_TYPE_NAMES.get(m.group(2), m.group(2))}, got {m.group(1)!r}"
            m = re.search(r"Value '(.*)' is not a valid (\w+)", msg)
            if m:
                what = "true or false" if m.group(2) == "bool" else f"a valid {m.group(2)}"
                return f"{SOURCE}: {key}: expected {what}, got {m.group(1)!r}"
            return f"{SOURCE}: {key}: expected a value of the key's type ({msg})"
        if isinstance(cause, (ConfigAttributeError, ConfigKeyError)):
            keys = _section_keys(getattr(cause, "object_type", None))
            section = key.rsplit(".", 1)[0] if "." in key else "the config"
            known = f" ({', '.join(keys)})" if keys else f" (a new key: +{key}=...)"
            return f"{SOURCE}: {key}: expected a key of {section}{known}"
        if isinstance(cause, MissingMandatoryValue):
            return f"{SOURCE}: {key}: expected a value ({key}=...)"
        if isinstance(cause, InterpolationResolutionError):
            return f"{SOURCE}: {key}: expected a value that resolves ({msg})"
        return f"{SOURCE}: {key}: {msg}"
    return f"{SOURCE}: {_first_line(text)}"


def is_hydra_user_error(err: BaseException) -> bool:
    from hydra.errors import CompactHydraException
    from omegaconf.errors import InterpolationResolutionError, MissingMandatoryValue

    return isinstance(err, (CompactHydraException, MissingMandatoryValue, InterpolationResolutionError))


def run_dir_is_empty(path: Path) -> bool:
    """Whether ``path`` holds nothing but what Hydra writes itself (``.hydra/`` and the job's log)."""
    try:
        entries = list(path.iterdir())
    except OSError:
        return False
    return all(p.name in HYDRA_FILES or (p.suffix == ".log" and p.is_file()) for p in entries)


def mark_failed(run_dir: Path, message: str, remove_if_empty: bool) -> None:
    """A failed job's Hydra run dir: removed when it holds nothing of the job, else marked ``FAILED``."""
    if not run_dir.is_dir():
        return
    if remove_if_empty and run_dir_is_empty(run_dir):
        shutil.rmtree(run_dir, ignore_errors=True)
        return
    from nas.io import atomic_write_text

    try:
        atomic_write_text(run_dir / FAILED_MARKER, f"error: {message}\n")
    except OSError:
        pass


def clear_failed(out_dir: Path) -> None:
    """A run that ends well removes the ``FAILED`` file an earlier attempt left in its directory."""
    try:
        (Path(out_dir) / FAILED_MARKER).unlink()
    except OSError:
        pass


@dataclass
class _Session:
    argv: List[str]
    jobs: List[str] = field(default_factory=list)
    failed: List[str] = field(default_factory=list)
    single_error: Optional[str] = None
    run_dir: Optional[Path] = None
    entered: bool = False


class HydraApp:
    """``hydra.main`` plus this package's error handling (see the module docstring)."""

    def __init__(self, config_name: str, task: Callable[[Any], Any], *,
                 argv_hook: Optional[Callable[[List[str]], List[str]]] = None,
                 failed_value: Optional[Callable[[Any], Any]] = None, uses_run_dir: bool = True,
                 help: Optional[str] = None):
        self.config_name, self.task, self.argv_hook = config_name, task, argv_hook
        self.failed_value = failed_value or (lambda cfg: None)
        self.uses_run_dir = uses_run_dir
        self.help = help
        self.session: Optional[_Session] = None
        functools.update_wrapper(self, task)

    # the function Hydra runs once per job
    def _job(self, cfg: Any) -> Any:
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode

        from nas.errors import NasError

        s = self.session
        s.entered = True
        hc = HydraConfig.get()
        multirun = hc.mode == RunMode.MULTIRUN
        job = f"job {hc.job.num}" if multirun else "the run"
        s.jobs.append(job)
        run_dir = Path(hc.runtime.output_dir)
        try:
            return self.task(cfg)
        except Exception as err:  # noqa: BLE001 - user errors reported here, anything else re-raised
            if isinstance(err, NasError):
                message = str(err)
            elif is_hydra_user_error(err):
                message = hydra_error_message(err, s.argv)
            else:
                raise
            if not multirun:
                print(f"error: {message}", file=sys.stderr)
                s.single_error, s.run_dir = message, run_dir
                return None
            print(f"error: {job}: {message}", file=sys.stderr)
            s.failed.append(job)
            if self.uses_run_dir:
                mark_failed(run_dir, message, remove_if_empty=False)
            return self.failed_value(cfg)

    def __call__(self, argv: Optional[Sequence[str]] = None) -> int:
        """Run the app on ``argv`` (default: ``sys.argv[1:]``); returns the exit code."""
        import hydra

        from nas.errors import NasError

        argv = list(sys.argv[1:] if argv is None else argv)
        try:
            if self.argv_hook is not None:
                argv = self.argv_hook(argv)
        except NasError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        if any(a in ("-h", "--help") for a in argv):
            try:
                print(self.help_text([a for a in argv if a not in ("-h", "--help")]))
            except Exception as err:  # noqa: BLE001 - a bad override beside --help: one line
                if not is_hydra_user_error(err):
                    raise
                print(f"error: {hydra_error_message(err, argv)}", file=sys.stderr)
                return 2
            return 0
        s = self.session = _Session(argv)

        @functools.wraps(self.task)
        def job(cfg: Any) -> Any:
            return self._job(cfg)

        main = hydra.main(version_base="1.3", config_path=CONF_DIR, config_name=self.config_name)(job)
        user_full = os.environ.get("HYDRA_FULL_ERROR")
        saved_argv = sys.argv
        sys.argv = [sys.argv[0] if sys.argv else self.config_name, *argv]
        os.environ["HYDRA_FULL_ERROR"] = "1"  # Hydra raises instead of printing: errors are reported here
        try:
            main()
        except SystemExit as exit_:
            return exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 2)
        except Exception as err:  # noqa: BLE001 - user errors of Hydra's machinery; anything else re-raised
            if user_full:
                raise
            if isinstance(err, NasError):
                print(f"error: {err}", file=sys.stderr)
            elif is_hydra_user_error(err):
                print(f"error: {hydra_error_message(err, argv)}", file=sys.stderr)
            elif isinstance(err, OSError) and not s.entered:  # e.g. a run dir Hydra cannot create
                got = f", got {str(err.filename)!r}" if getattr(err, "filename", None) else ""
                print(f"error: {SOURCE}: hydra.run.dir: expected a directory Hydra can create and write{got} "
                      f"({type(err).__name__}: {err.strerror or err})", file=sys.stderr)
            else:
                raise
            return 2
        finally:
            sys.argv = saved_argv
            if user_full is None:
                os.environ.pop("HYDRA_FULL_ERROR", None)
            else:
                os.environ["HYDRA_FULL_ERROR"] = user_full
        if s.single_error is not None:
            if self.uses_run_dir and s.run_dir is not None:
                mark_failed(s.run_dir, s.single_error, remove_if_empty=True)
            return 2
        if s.failed:
            print(f"error: {len(s.failed)} of {len(s.jobs)} jobs of this sweep failed ({', '.join(s.failed)}; their "
                  f"overrides are in the launch lines above)", file=sys.stderr)
            return 2
        return 0


    def help_text(self, overrides: Sequence[str]) -> str:
        """``--help``: the app's text, its config groups with the users' options (no schemas), and the
        config composed with ``overrides`` (each key can be overridden with key=value)."""
        from hydra import compose, initialize_config_dir
        from hydra.core.global_hydra import GlobalHydra
        from omegaconf import OmegaConf

        with initialize_config_dir(CONF_DIR, version_base="1.3", job_name=self.config_name):
            full = compose(self.config_name, overrides=[o for o in overrides if not o.startswith("-")],
                           return_hydra_config=True)
            loader = GlobalHydra.instance().config_loader()
            groups = {}
            for group, choice in sorted(full.hydra.runtime.choices.items()):
                if group.startswith("hydra/") or group == "hydra":
                    continue
                options = [o for o in loader.get_group_options(group) if not is_schema_option(o)]
                if options:
                    groups[group] = [f"{o} (chosen)" if o == choice else o for o in options]
            cfg = OmegaConf.masked_copy(full, [k for k in full if k != "hydra"])
        parts = [(self.help or (self.task.__doc__ or f"python -m nas.{self.config_name}")).strip(), ""]
        if groups:
            parts += ["Config groups (group=option):"] + [f"  {g}: {', '.join(o)}" for g, o in groups.items()] + [""]
        parts += ["Config (override any key with key=value; Hydra flags: --hydra-help):", "",
                  OmegaConf.to_yaml(cfg).rstrip()]
        return "\n".join(parts)


def hydra_app(config_name: str, **options: Any) -> Callable[[Callable[[Any], Any]], HydraApp]:
    """Decorator: the task ``f(cfg)`` as a :class:`HydraApp` on ``conf/<config_name>.yaml``."""

    def wrap(task: Callable[[Any], Any]) -> HydraApp:
        return HydraApp(config_name, task, **options)

    return wrap


def run(app: HydraApp) -> None:
    """``python -m``'s entry: run ``app`` on ``sys.argv`` and exit with its code."""
    sys.exit(app())


def quote(value: str) -> str:
    """``value`` as a quoted string of Hydra's override grammar that OmegaConf reads back verbatim
    (quotes and the backslashes before them escaped, ``${`` kept literal)."""
    out = []
    for i, ch in enumerate(value):
        if ch == "'":
            j = i
            while j > 0 and value[j - 1] == "\\":  # backslashes before a quote are doubled
                j -= 1
            out.append("\\" * (i - j) + "\\'")
        else:
            out.append(ch)
    text = "".join(out)
    m = re.search(r"\\+$", text)
    if m:  # trailing backslashes would escape the closing quote
        text += "\\" * len(m.group(0))
    return "'" + text.replace("${", "\\${") + "'"


UNSAFE = re.compile(r"""[=,\[\]{}()'"\\]|\$\{|^\s|\s$""")


def quote_values(argv: Sequence[str], keys: Sequence[str]) -> List[str]:
    """Arguments ``key=value`` of the given keys with values Hydra's override grammar would misread
    (``=``, ``,``, brackets, quotes, ``${``) quoted (:func:`quote`): command lines that worked before the
    apps were Hydra apps keep working, e.g. ``out=runs/lr=0.1``."""
    out = []
    for item in argv:
        key, sep, value = item.partition("=")
        if sep and key.lstrip("+") in keys and value[:1] not in ("'", '"') and UNSAFE.search(value):
            item = f"{key}={quote(value)}"
        out.append(item)
    return out
