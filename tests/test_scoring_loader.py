"""Loading rules: built-ins, files, modules, labels, parameters, and every way to fail."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from core.errors import ValidationError
from scoring import Decay, load_rules
from scoring.loader import parse_params, split_spec

RULE_FILE = """
from scoring import Param, Rule, TOUCHES


class Since:
    def __init__(self, days):
        self.days = days
        self.last = None

    def feed(self, item):
        if item.kind in TOUCHES:
            self.last = item.day

    def score(self, day):
        if self.last is None:
            return (None, False)
        return (float(self.last - day), day - self.last > self.days)


class Recent(Rule):
    name = "recent"
    parameters = (Param("days", 60, "cold after this many days", minimum=1),)

    def start(self, contact):
        return Since(self.params["days"])
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_builtins_load_with_defaults_and_parameters() -> None:
    loaded, failed = load_rules(["cadence", "decay"], ["decay.half_life_days=60"])
    assert failed == []
    assert [r.label for r in loaded] == ["cadence", "decay"]
    assert loaded[1].rule.params["half_life_days"] == 60.0


def test_a_label_lets_one_rule_be_compared_with_itself() -> None:
    loaded, failed = load_rules(
        ["decay", "slow=decay"], ["slow.half_life_days=180", "decay.threshold=1"]
    )
    assert failed == []
    assert [(r.label, r.rule.params["half_life_days"]) for r in loaded] == [
        ("decay", 90.0),
        ("slow", 180.0),
    ]
    assert loaded[0].rule.params["threshold"] == 1.0


def test_custom_rule_from_a_file(tmp_path: Path) -> None:
    path = write(tmp_path, "myrule.py", RULE_FILE)
    loaded, failed = load_rules([f"{path}:Recent"], ["recent.days=30"])
    assert failed == []
    assert loaded[0].label == "recent"
    assert loaded[0].rule.params == {"days": 30}


def test_custom_rule_from_a_module_in_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "myrules"
    package.mkdir()
    (package / "__init__.py").write_text("")
    write(package, "recency.py", RULE_FILE)
    monkeypatch.chdir(tmp_path)
    path_before = list(sys.path)
    try:
        loaded, failed = load_rules(["myrules.recency:Recent"])
    finally:
        for name in [m for m in sys.modules if m.startswith("myrules")]:
            del sys.modules[name]
    assert failed == []
    assert loaded[0].rule.name == "recent"
    assert sys.path == path_before  # the current directory was on the path for the import only


@pytest.mark.parametrize(
    ("content", "target", "expected"),
    [
        ("def broken(:\n", "Recent", "SyntaxError"),
        (
            "raise RuntimeError('no network here')\n",
            "Recent",
            "RuntimeError: no network here (bad.py, line 1)",
        ),
        ("import not_a_module_anywhere\n", "Recent", "ModuleNotFoundError"),
        ("x = 1\n", "Recent", "defines no 'Recent'"),
        ("class Recent:\n    pass\n", "Recent", "is not a scoring rule"),
        (
            "from scoring import Rule\nclass Recent(Rule):\n    name = 'r'\n",
            "Recent",
            "does not implement start",
        ),
    ],
)
def test_a_rule_that_does_not_load_is_reported_and_the_others_still_load(
    tmp_path: Path, content: str, target: str, expected: str
) -> None:
    path = write(tmp_path, "bad.py", content)
    loaded, failed = load_rules(["cadence", f"{path}:{target}", "decay"])
    assert [r.label for r in loaded] == ["cadence", "decay"]
    assert len(failed) == 1
    assert failed[0].message.startswith(f"rule '{path}:{target}' failed to load: ")
    assert expected in failed[0].message


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("nosuch", "no built-in rule 'nosuch'"),
        ("/nowhere/rule.py:Rule", "no such file /nowhere/rule.py"),
        ("no_such_package.rules:Rule", "no module named 'no_such_package.rules' in the current"),
        ("rules.py:", "use path/to/file.py:Class"),
    ],
)
def test_unfindable_rules_say_what_is_missing(spec: str, expected: str) -> None:
    loaded, failed = load_rules([spec, "cadence"])
    assert [r.label for r in loaded] == ["cadence"]
    assert expected in failed[0].message


def test_a_bad_parameter_fails_only_its_rule() -> None:
    loaded, failed = load_rules(
        ["cadence", "decay"], ["decay.half_life_days=fast", "cadence.cadence_days=14"]
    )
    assert [r.label for r in loaded] == ["cadence"]
    assert loaded[0].rule.params["cadence_days"] == 14
    assert failed[0].label == "decay"
    assert "parameter 'half_life_days' must be a number, got 'fast'" in failed[0].message


def test_an_unknown_parameter_lists_the_known_ones() -> None:
    _, failed = load_rules(["decay"], ["decay.halflife=3"])
    assert "has no parameter 'halflife'" in failed[0].message
    assert "half_life_days" in failed[0].message


def test_a_constructor_that_raises_is_a_load_failure(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "ctor.py",
        """
        from scoring import Rule
        class Picky(Rule):
            name = "picky"
            def __init__(self, **params):
                raise ValueError("needs a licence")
            def start(self, contact):
                raise AssertionError
        """,
    )
    loaded, failed = load_rules([f"{path}:Picky"])
    assert loaded == []
    assert "cannot be configured: needs a licence" in failed[0].message


@pytest.mark.parametrize(
    ("rules", "params", "expected"),
    [
        ([], [], "name at least one rule"),
        (["decay"], ["half_life_days=3"], "must look like RULE.KEY=VALUE"),
        (["decay"], ["decay.=3"], "must look like RULE.KEY=VALUE"),
        (["decay"], ["cadence.cadence_days=3"], "names rule 'cadence', which no --rule gives"),
        (["decay"], ["decay.threshold=1", "decay.threshold=2"], "given twice"),
        (["decay", "decay"], [], "rule label 'decay' is given twice"),
        (["9lives=decay"], [], "must start with a letter"),
    ],
)
def test_ambiguous_requests_are_refused_whole(
    rules: list[str], params: list[str], expected: str
) -> None:
    with pytest.raises(ValidationError, match=expected):
        load_rules(rules, params)


def test_spec_splitting() -> None:
    assert split_spec("decay") == (None, "decay")
    assert split_spec("slow=decay") == ("slow", "decay")
    assert split_spec("dir/a=b.py:R") == (None, "dir/a=b.py:R")
    assert parse_params(["a.b=c=d"]) == {"a": {"b": "c=d"}}


def test_rule_objects_are_independent_of_each_other() -> None:
    a, b = Decay(half_life_days=10), Decay()
    assert a.params["half_life_days"] == 10.0 and b.params["half_life_days"] == 90.0


def test_a_rule_whose_name_is_no_label_must_be_labelled(tmp_path: Path) -> None:
    path = write(tmp_path, "spaced.py", RULE_FILE.replace('name = "recent"', 'name = "my rule"'))
    loaded, failed = load_rules([f"{path}:Recent", "cadence"])
    assert [r.label for r in loaded] == ["cadence"]
    assert "cannot be used unlabelled" in failed[0].message
    loaded, failed = load_rules([f"mine={path}:Recent"])
    assert failed == [] and loaded[0].label == "mine"
