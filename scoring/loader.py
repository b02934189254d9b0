"""Finding rules from the command line: built-ins, files and modules, with parameters.

A rule is named by `[LABEL=]TARGET`, where TARGET is a built-in name (`decay`), a
file and a class (`path/to/rule.py:Name`) or an importable module and a class
(`package.module:Name`). The label (default: the rule's own name) keys its output
and its parameters, so one rule can be compared with itself under other
parameters: `--rule decay --rule slow=decay --param slow.half_life_days=180`.

Loading one rule never stops the others: each failure becomes a `LoadFailure`
whose message names the rule and says what went wrong, and replay goes on with
the rules that did load.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import sys
import traceback
from collections.abc import Sequence
from types import ModuleType

import msgspec

from core.errors import ValidationError

from .builtin import BUILTIN
from .rules import Rule, check_label


class LoadedRule(msgspec.Struct, frozen=True):
    """A rule ready to replay, with the label its results go under."""

    label: str
    spec: str
    rule: Rule


class LoadFailure(msgspec.Struct, frozen=True):
    """A rule that could not be loaded or configured, and why."""

    label: str
    spec: str
    message: str


class _LoadError(Exception):
    """Internal: one rule failed; carries the person-readable reason."""


def parse_params(texts: Sequence[str]) -> dict[str, dict[str, str]]:
    """`LABEL.KEY=VALUE` options grouped by label; malformed ones are refused."""
    out: dict[str, dict[str, str]] = {}
    for text in texts:
        name, sep, value = text.partition("=")
        label, dot, key = name.strip().partition(".")
        if not sep or not dot or not label or not key.strip():
            raise ValidationError(f"--param must look like RULE.KEY=VALUE, got {text!r}")
        key = key.strip()
        if key in out.setdefault(label, {}):
            raise ValidationError(f"--param {label}.{key} is given twice")
        out[label][key] = value
    return out


def split_spec(spec: str) -> tuple[str | None, str]:
    """(`LABEL` or None, `TARGET`) of a `[LABEL=]TARGET` rule spec."""
    head, sep, tail = spec.partition("=")
    if sep and head and ":" not in head and "/" not in head and os.sep not in head:
        return check_label(head.strip()), tail.strip()
    return None, spec.strip()


def load_rules(
    specs: Sequence[str], params: Sequence[str] = ()
) -> tuple[list[LoadedRule], list[LoadFailure]]:
    """Load every rule; failures are returned, not raised, so the others still run.

    Refuses (raises) only what makes the whole request ambiguous: no rule at all, a
    malformed `--param`, a `--param` naming no given rule, or a label given twice.
    """
    if not specs:
        raise ValidationError(
            "name at least one rule with --rule (built-ins: cadence, decay, reciprocity)"
        )
    by_label = parse_params(params)
    loaded: list[LoadedRule] = []
    failed: list[LoadFailure] = []
    labels: list[str] = []
    for spec in specs:
        label, target = split_spec(spec)
        try:
            cls = _find(target)
        except _LoadError as exc:
            shown = label or target
            labels.append(shown)
            failed.append(LoadFailure(shown, spec, f"rule {spec!r} failed to load: {exc}"))
            continue
        if label is None:
            try:
                label = check_label(cls.name or cls.__name__)
            except ValidationError as exc:
                labels.append(target)
                failed.append(
                    LoadFailure(
                        target,
                        spec,
                        f"rule {spec!r} cannot be used unlabelled: {exc}; "
                        "give it a label with LABEL=RULE",
                    )
                )
                continue
        if label in labels:
            raise ValidationError(
                f"rule label {label!r} is given twice: name them apart with LABEL=RULE"
            )
        labels.append(label)
        try:
            rule = cls(**by_label.get(label, {}))
        except Exception as exc:  # a rule's own constructor may raise anything
            failed.append(
                LoadFailure(label, spec, f"rule {label!r} ({spec}) cannot be configured: {exc}")
            )
            continue
        loaded.append(LoadedRule(label, spec, rule))
    unknown = sorted(set(by_label) - set(labels))
    if unknown:
        raise ValidationError(
            f"--param names rule {unknown[0]!r}, which no --rule gives (rules: {', '.join(labels)})"
        )
    return loaded, failed


def _find(target: str) -> type[Rule]:
    """The rule class a target names (built-in, file:Name or module:Name)."""
    if not target:
        raise _LoadError("empty rule name")
    if ":" not in target:
        if target in BUILTIN:
            return BUILTIN[target]
        raise _LoadError(
            f"no built-in rule {target!r} (built-ins: {', '.join(BUILTIN)}); "
            "custom rules are path/to/file.py:Class or package.module:Class"
        )
    where, _, attr = target.rpartition(":")
    if not where or not attr.isidentifier():
        raise _LoadError("use path/to/file.py:Class or package.module:Class")
    if where.endswith(".py") or "/" in where or os.sep in where:
        module = _import_file(where)
    else:
        module = _import_module(where)
    found = getattr(module, attr, None)
    if found is None:
        raise _LoadError(f"{where} defines no {attr!r}")
    if not (isinstance(found, type) and issubclass(found, Rule)):
        raise _LoadError(
            f"{attr} in {where} is not a scoring rule: it must be a class deriving from "
            "scoring.Rule"
        )
    if found.start is Rule.start:
        raise _LoadError(f"{attr} in {where} does not implement start(contact)")
    return found


def _import_file(path: str) -> ModuleType:
    full = os.path.abspath(os.path.expanduser(path))
    if not os.path.isfile(full):
        raise _LoadError(f"no such file {path}")
    name = "recip_rule_" + hashlib.sha256(full.encode()).hexdigest()[:16]
    spec = importlib.util.spec_from_file_location(name, full)
    if spec is None or spec.loader is None:
        raise _LoadError(f"{path} cannot be imported as Python")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # the file's own code may raise anything
        sys.modules.pop(name, None)
        raise _LoadError(_describe(exc, full)) from exc
    return module


def _import_module(name: str) -> ModuleType:
    """Import `name` from the Python path or, as `python -m` would, the current directory.

    The installed `recip` script does not have the current directory on its path;
    it is added for this import only, so a person's own package next to them loads.
    """
    cwd = os.getcwd()
    added = cwd not in sys.path
    if added:
        sys.path.insert(0, cwd)
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name and name.startswith(exc.name):
            raise _LoadError(
                f"no module named {name!r} in the current directory or on the Python path"
            ) from exc
        raise _LoadError(_describe(exc, None)) from exc
    except Exception as exc:  # the module's own code may raise anything
        raise _LoadError(_describe(exc, None)) from exc
    finally:
        if added:
            sys.path.remove(cwd)


def _describe(exc: BaseException, path: str | None) -> str:
    """`Type: message (file, line N)`: where in the rule's own code it went wrong."""
    text = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, SyntaxError):
        return text
    frames = traceback.extract_tb(exc.__traceback__)
    own = [f for f in frames if path is None or f.filename == path]
    if own:
        frame = own[-1]
        text += f" ({os.path.basename(frame.filename)}, line {frame.lineno})"
    return text
