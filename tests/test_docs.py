"""Documentation that runs: every module's doctest examples, and help for every command."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest
from click.testing import CliRunner

import bizcase
from bizcase.cli import main

MODULES = sorted(m.name for m in pkgutil.iter_modules(bizcase.__path__, "bizcase."))


@pytest.mark.parametrize("name", MODULES)
def test_doctest_examples_run(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS)
    assert result.failed == 0


@pytest.mark.parametrize("command", [None, *sorted(main.commands)])
def test_every_command_has_help(command):
    args = [command, "--help"] if command else ["--help"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0
    assert "Usage:" in result.output
    if command:
        assert (main.commands[command].help or "").strip(), f"{command} has no help text"
