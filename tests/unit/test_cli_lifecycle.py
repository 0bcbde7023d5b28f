"""create / certs / kubeconfig / destroy through the CLI, on a temporary state store."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from kubeprov.cli.main import main

REPO = Path(__file__).resolve().parents[2]
SINGLE = REPO / "stacks" / "single.yaml"
# a cloud stack: its machines phase says clearly that it cannot provision yet, without root or machines
AWS = REPO / "stacks" / "aws.example.yaml"


@pytest.fixture
def state(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "state"
    monkeypatch.setenv("KUBEPROV_STATE_DIR", str(root))
    return root


def serial(path: Path) -> str:
    out = subprocess.run(["openssl", "x509", "-noout", "-serial", "-in", str(path)],
                         capture_output=True, text=True, check=True)
    return out.stdout.strip()


def short_lived_stack(tmp_path: Path) -> Path:
    text = SINGLE.read_text() + "\ncertificates:\n  validityDays: 1\n"
    path = tmp_path / "short.yaml"
    path.write_text(text)
    return path


def test_create_records_the_stack_then_stops_where_provisioning_is_not_available(state, capsys):
    rc = main(["create", "-f", str(AWS)])
    out = capsys.readouterr()
    assert rc == 3
    assert "phase machines failed" in out.err
    assert "Traceback" not in out.err
    cluster = state / "clusters" / "prod-aws"
    assert (cluster / "stack.yaml").read_text() == AWS.read_text()


def test_create_rerun_resumes_the_phases_already_done(state, capsys):
    main(["create", "-f", str(AWS)])
    capsys.readouterr()
    main(["create", "-f", str(AWS)])
    out = capsys.readouterr().out
    assert "resuming run" in out
    assert "↷ stack" in out or "resumed" in out


def test_create_only_pki_again_reports_no_change_for_existing_pki(state, capsys):
    main(["create", "-f", str(SINGLE), "--only", "pki"])
    capsys.readouterr()
    main(["create", "-f", str(SINGLE), "--only", "pki", "--fresh"])
    lines = [line for line in capsys.readouterr().out.splitlines() if " pki " in f" {line} "]
    assert lines and "no change" in lines[0]


def test_create_dry_run_writes_nothing(state, capsys):
    assert main(["create", "-f", str(SINGLE), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "single-cp-1 (10.215.0.10)" in out
    assert not (state / "clusters" / "single" / "pki").exists()
    assert not (state / "clusters" / "single" / "history.jsonl").exists()


def test_create_only_pki_runs_just_that_phase(state, capsys):
    assert main(["create", "-f", str(SINGLE), "--only", "pki"]) == 0
    assert (state / "clusters" / "single" / "pki" / "apiserver.crt").exists()
    assert not (state / "clusters" / "single" / "stack.yaml").exists()


def test_create_with_unknown_phase_names_the_valid_ones(state, capsys):
    assert main(["create", "-f", str(SINGLE), "--skip", "pkk"]) == 2
    err = capsys.readouterr().err
    assert "unknown phase 'pkk'" in err
    assert "stack, machines, preflight, pki, render, install, etcd" in err


def test_check_expiration_passes_for_fresh_year_long_certificates(state, capsys):
    assert main(["certs", "generate", "-f", str(SINGLE)]) == 0
    assert main(["certs", "check-expiration", "-f", str(SINGLE)]) == 0
    out = capsys.readouterr().out
    assert "apiserver" in out and "kubeconfig/admin.conf" in out


def test_check_expiration_flags_certificates_valid_for_one_day(state, tmp_path, capsys):
    stack = short_lived_stack(tmp_path)
    assert main(["certs", "generate", "-f", str(stack)]) == 0
    assert main(["certs", "check-expiration", "-f", str(stack), "--within-days", "30"]) == 1
    err = capsys.readouterr().err
    assert "expire within 30 days" in err
    assert "apiserver" in err
    assert "certs renew --all" in err


def test_renew_all_changes_leaf_serials_and_keeps_the_ca(state, capsys):
    main(["certs", "generate", "-f", str(SINGLE)])
    pki = state / "clusters" / "single" / "pki"
    ca_before = (pki / "ca.crt").read_bytes()
    leaf_before = serial(pki / "apiserver.crt")
    assert main(["certs", "renew", "--all", "-f", str(SINGLE)]) == 0
    assert (pki / "ca.crt").read_bytes() == ca_before
    assert serial(pki / "apiserver.crt") != leaf_before
    verify = subprocess.run(["openssl", "verify", "-CAfile", str(pki / "ca.crt"), str(pki / "apiserver.crt")],
                            capture_output=True, text=True)
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_renew_without_names_or_all_is_a_clear_error(state, capsys):
    assert main(["certs", "renew", "-f", str(SINGLE)]) == 1
    assert "name the certificates to renew, or pass --all" in capsys.readouterr().err


def test_kubeconfig_before_any_pki_says_what_to_run(state, capsys):
    assert main(["kubeconfig", "-f", str(SINGLE)]) == 1
    assert "kubeprov create" in capsys.readouterr().err


def test_kubeconfig_prints_the_admin_kubeconfig_path(state, capsys):
    main(["certs", "generate", "-f", str(SINGLE)])
    capsys.readouterr()
    assert main(["kubeconfig", "-f", str(SINGLE)]) == 0
    path = Path(capsys.readouterr().out.strip())
    assert path == state / "clusters" / "single" / "kubeconfigs" / "admin.conf"


def test_destroy_without_yes_and_without_a_terminal_refuses(state, capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    assert main(["destroy", "-f", str(SINGLE)]) == 2
    assert "refusing to destroy cluster 'single'" in capsys.readouterr().err


def test_certs_for_a_cloud_stack_before_provisioning_say_addresses_are_unknown(state, capsys):
    assert main(["certs", "generate", "-f", str(REPO / "stacks" / "aws.example.yaml")]) == 1
    err = capsys.readouterr().err
    assert "are not known yet" in err
    assert "Traceback" not in err


def test_status_before_create_says_there_are_no_machines(state, capsys):
    assert main(["status", "-f", str(SINGLE), "-o", "json"]) == 0
    assert "no machines recorded: run `kubeprov create`" in capsys.readouterr().out


def test_status_with_an_unknown_output_format_is_a_usage_error(state, capsys):
    assert main(["status", "-f", str(SINGLE), "-o", "yaml"]) == 2
    assert "unknown output format 'yaml'" in capsys.readouterr().err
