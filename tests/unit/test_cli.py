"""The CLI skeleton: every command exists, user errors are one message with an exit code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from kubeprov import __version__
from kubeprov.cli.main import main

REPO = Path(__file__).resolve().parents[2]
KUBEPROV = Path(sys.executable).parent / "kubeprov"

COMMANDS = ["create", "destroy", "status", "join", "unjoin", "upgrade", "stack", "certs", "kubeconfig",
            "etcd", "federation", "dev"]


def test_console_script_prints_the_version():
    out = subprocess.run([str(KUBEPROV), "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"kubeprov {__version__}"


def test_help_lists_every_command(capsys):
    assert main(["--help"]) == 0
    text = capsys.readouterr().out
    missing = [c for c in COMMANDS if f" {c} " not in text]
    assert missing == []


@pytest.mark.parametrize(
    "argv, command",
    [
        (["join"], "join"),
        (["unjoin", "n1"], "unjoin"),
        (["upgrade"], "upgrade"),
        (["etcd", "backup"], "etcd backup"),
        (["federation", "join"], "federation join"),
    ],
)
def test_commands_of_later_releases_say_so(argv, command, capsys):
    assert main(argv) == 3
    err = capsys.readouterr().err
    assert f"`kubeprov {command}` is not yet available" in err
    assert "Traceback" not in err


def test_unknown_option_is_a_usage_error_with_exit_code_2(capsys):
    assert main(["create", "--no-such-flag"]) == 2
    assert "No such option" in capsys.readouterr().err


def test_missing_stack_file_is_one_clear_error(tmp_path):
    missing = tmp_path / "nope.yaml"
    out = subprocess.run([str(KUBEPROV), "create", "-f", str(missing), "--state-dir", str(tmp_path)],
                         capture_output=True, text=True)
    assert out.returncode == 2
    assert str(missing) in out.stderr
    assert "Traceback" not in out.stderr
