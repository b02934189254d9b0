"""Commands load their module only when they run: the table in `cli.main` is the truth."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import import_module

import click

from cli.main import COMMAND_MODULES, cli
from tests.conftest import ROOT


def test_the_table_names_exactly_what_each_module_registers() -> None:
    for module in set(COMMAND_MODULES.values()):
        group = click.Group()
        import_module(module).register(group)
        expected = {name for name, owner in COMMAND_MODULES.items() if owner == module}
        assert set(group.commands) == expected, module


def test_every_listed_command_resolves() -> None:
    ctx = click.Context(cli)
    for name in cli.list_commands(ctx):
        assert cli.get_command(ctx, name) is not None, name


def test_a_view_command_loads_neither_import_parsers_nor_rules_nor_the_server() -> None:
    probe = (
        "import sys, click\n"
        "from cli.main import cli\n"
        "cli.get_command(click.Context(cli), 'ledger')\n"
        "print(__import__('json').dumps(sorted(sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, check=True
    )
    loaded = set(json.loads(out.stdout))
    assert "cli.views" in loaded
    for heavy in ("vobject", "cli.transfer", "scoring.loader", "server", "cli.replay"):
        assert heavy not in loaded, heavy
