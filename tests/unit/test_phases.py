"""Phase runner: order, selection, dry run, resume after failure or kill, history, output."""

from __future__ import annotations

import asyncio
import io
import json

import pytest
from rich.console import Console

from kubeprov.errors import KubeprovError, UsageError
from kubeprov.phases import Context, Phase, PhaseFailed, PhaseResult, PhaseRunner, RunOptions
from kubeprov.state import StateStore


def console() -> tuple[Console, io.StringIO]:
    buf = io.StringIO()
    return Console(file=buf, force_terminal=False, width=120, soft_wrap=True), buf


class Calls:
    """Builds phases that record their calls; ``fail`` names phases that raise on their next run."""

    def __init__(self) -> None:
        self.order: list[str] = []
        self.fail: dict[str, BaseException] = {}

    def sync(self, name: str, *, always: bool = False, changed: bool = True, message: str = "") -> Phase:
        def run(ctx: Context) -> PhaseResult:
            self.order.append(name)
            if name in self.fail:
                raise self.fail.pop(name)
            return PhaseResult(changed=changed, message=message)

        return Phase(name, f"do {name}", run=run, always=always)

    def aio(self, name: str, *, plan: list[str] | None = None) -> Phase:
        async def run(ctx: Context) -> None:
            self.order.append(name)
            if name in self.fail:
                raise self.fail.pop(name)

        return Phase(name, f"do {name}", run=run, plan=(lambda ctx: plan) if plan else None)


def tree(calls: Calls) -> list[Phase]:
    return [
        calls.sync("pki"),
        calls.aio("machines"),
        Phase(
            "control-plane",
            "start the control plane",
            children=[
                calls.sync("etcd"),
                calls.aio("apiserver"),
                Phase("extra", "optional parts", children=[calls.sync("audit")]),
            ],
        ),
        Phase("addons", "install add-ons", children=[calls.aio("dns")]),
    ]


def flat(calls: Calls, *, always: str = "") -> list[Phase]:
    return [calls.sync(n, always=(n == always)) for n in ("one", "two", "three", "four", "five")]


@pytest.fixture
def state(tmp_path):
    return StateStore(tmp_path).cluster("demo")


def ctx_for(state) -> tuple[Context, io.StringIO]:
    con, buf = console()
    return Context(state=state, console=con), buf


def test_paths_list_groups_and_leaves_in_tree_order():
    runner = PhaseRunner("create", tree(Calls()))
    assert runner.paths() == [
        "pki",
        "machines",
        "control-plane",
        "control-plane/etcd",
        "control-plane/apiserver",
        "control-plane/extra",
        "control-plane/extra/audit",
        "addons",
        "addons/dns",
    ]


def test_sync_and_async_phases_run_in_tree_order_across_nested_groups(state):
    calls = Calls()
    ctx, _ = ctx_for(state)
    report = PhaseRunner("create", tree(calls)).run(ctx, RunOptions())
    assert calls.order == ["pki", "machines", "etcd", "apiserver", "audit", "dns"]
    assert {r.status for r in report.results.values()} == {"done"}
    assert report.changed


async def test_arun_works_inside_a_running_event_loop(state):
    calls = Calls()
    ctx, _ = ctx_for(state)
    await PhaseRunner("create", tree(calls)).arun(ctx, RunOptions())
    assert calls.order == ["pki", "machines", "etcd", "apiserver", "audit", "dns"]


def test_only_a_group_runs_its_subtree_only(state):
    calls = Calls()
    ctx, _ = ctx_for(state)
    report = PhaseRunner("create", tree(calls)).run(ctx, RunOptions(only=["control-plane"]))
    assert calls.order == ["etcd", "apiserver", "audit"]
    assert report.results["pki"].status == "skipped"


def test_only_a_leaf_runs_that_leaf_and_not_its_siblings(state):
    calls = Calls()
    ctx, _ = ctx_for(state)
    PhaseRunner("create", tree(calls)).run(ctx, RunOptions(only=["control-plane/apiserver"]))
    assert calls.order == ["apiserver"]


def test_skip_leaves_out_a_leaf_or_a_whole_group(state):
    calls = Calls()
    ctx, _ = ctx_for(state)
    report = PhaseRunner("create", tree(calls)).run(ctx, RunOptions(skip=["machines", "control-plane/extra"]))
    assert calls.order == ["pki", "etcd", "apiserver", "dns"]
    assert report.results["control-plane/extra/audit"].status == "skipped"


def test_only_and_skip_combine_and_skip_wins(state):
    calls = Calls()
    ctx, _ = ctx_for(state)
    options = RunOptions(only=["control-plane", "pki"], skip=["control-plane/etcd"])
    PhaseRunner("create", tree(calls)).run(ctx, options)
    assert calls.order == ["pki", "apiserver", "audit"]


def test_unknown_phase_name_is_a_usage_error_listing_valid_paths_and_a_guess(state):
    ctx, _ = ctx_for(state)
    runner = PhaseRunner("create", tree(Calls()))
    with pytest.raises(UsageError) as err:
        runner.run(ctx, RunOptions(only=["etcd"]))
    assert "etcd" in err.value.message
    assert "did you mean control-plane/etcd" in err.value.hint
    assert "pki, machines, control-plane" in err.value.hint
    with pytest.raises(UsageError, match="--skip"):
        runner.run(ctx, RunOptions(skip=["pkj"]))


def test_bad_phase_trees_are_rejected_up_front():
    noop = lambda ctx: None  # noqa: E731
    with pytest.raises(ValueError, match="DNS label"):
        PhaseRunner("create", [Phase("Bad_Name", "x", run=noop)])
    with pytest.raises(ValueError, match="duplicate"):
        PhaseRunner("create", [Phase("a", "x", run=noop), Phase("a", "y", run=noop)])
    with pytest.raises(ValueError, match="cannot have run"):
        PhaseRunner("create", [Phase("g", "x", run=noop, children=[Phase("a", "y", run=noop)])])


def test_dry_run_calls_no_phase_writes_no_history_and_prints_plans(state):
    calls = Calls()
    phases = [calls.sync("pki"), calls.aio("machines", plan=["create vm cp-0", "create vm worker-0"])]
    ctx, buf = ctx_for(state)
    report = PhaseRunner("create", phases).run(ctx, RunOptions(dry_run=True))
    out = buf.getvalue()
    assert calls.order == []
    assert state.history() == []
    assert {r.status for r in report.results.values()} == {"planned"}
    assert "pki" in out and "do pki" in out  # no plan: the help line stands in
    assert "create vm cp-0" in out and "create vm worker-0" in out
    assert ctx.dry_run is True


def test_failed_phase_stops_the_run_and_names_phase_and_reason(state):
    calls = Calls()
    calls.fail["three"] = RuntimeError("disk full")
    ctx, _ = ctx_for(state)
    with pytest.raises(PhaseFailed) as err:
        PhaseRunner("create", flat(calls)).run(ctx, RunOptions())
    assert calls.order == ["one", "two", "three"]
    assert err.value.message == "phase three failed: disk full"
    assert "kubeprov create" in err.value.hint
    assert isinstance(err.value.__cause__, RuntimeError)
    assert err.value.report is not None and err.value.report.results["three"].status == "failed"


def test_rerun_after_failure_resumes_at_the_failed_phase(state):
    calls = Calls()
    calls.fail["three"] = RuntimeError("disk full")
    with pytest.raises(PhaseFailed):
        PhaseRunner("create", flat(calls), fingerprint="f1").run(ctx_for(state)[0], RunOptions())
    calls.order.clear()
    ctx, buf = ctx_for(state)
    report = PhaseRunner("create", flat(calls), fingerprint="f1").run(ctx, RunOptions())
    assert calls.order == ["three", "four", "five"]
    assert report.results["one"].status == "resumed"
    assert report.results["two"].status == "resumed"
    assert report.resumed_from is not None
    assert "resumed" in buf.getvalue()


def test_resume_reruns_always_phases(state):
    calls = Calls()
    calls.fail["three"] = RuntimeError("boom")
    with pytest.raises(PhaseFailed):
        PhaseRunner("create", flat(calls, always="two")).run(ctx_for(state)[0], RunOptions())
    calls.order.clear()
    PhaseRunner("create", flat(calls, always="two")).run(ctx_for(state)[0], RunOptions())
    assert calls.order == ["two", "three", "four", "five"]


@pytest.mark.parametrize(
    ("fingerprint", "fresh"), [("f2", False), ("f1", True)], ids=["changed-fingerprint", "fresh"]
)
def test_changed_fingerprint_or_fresh_runs_everything(state, fingerprint, fresh):
    calls = Calls()
    calls.fail["three"] = RuntimeError("boom")
    with pytest.raises(PhaseFailed):
        PhaseRunner("create", flat(calls), fingerprint="f1").run(ctx_for(state)[0], RunOptions())
    calls.order.clear()
    runner = PhaseRunner("create", flat(calls), fingerprint=fingerprint)
    report = runner.run(ctx_for(state)[0], RunOptions(fresh=fresh))
    assert calls.order == ["one", "two", "three", "four", "five"]
    assert report.resumed_from is None


def test_after_a_completed_run_the_next_run_runs_everything(state):
    calls = Calls()
    PhaseRunner("create", flat(calls)).run(ctx_for(state)[0], RunOptions())
    calls.order.clear()
    PhaseRunner("create", flat(calls)).run(ctx_for(state)[0], RunOptions())
    assert calls.order == ["one", "two", "three", "four", "five"]


def test_resume_is_per_command(state):
    calls = Calls()
    calls.fail["three"] = RuntimeError("boom")
    with pytest.raises(PhaseFailed):
        PhaseRunner("create", flat(calls)).run(ctx_for(state)[0], RunOptions())
    calls.order.clear()
    PhaseRunner("upgrade", flat(calls)).run(ctx_for(state)[0], RunOptions())
    assert calls.order == ["one", "two", "three", "four", "five"]


def test_done_phases_carry_over_a_chain_of_interrupted_runs(state):
    calls = Calls()
    calls.fail["three"] = RuntimeError("first")
    with pytest.raises(PhaseFailed):
        PhaseRunner("create", flat(calls)).run(ctx_for(state)[0], RunOptions())
    calls.fail["four"] = RuntimeError("second")
    with pytest.raises(PhaseFailed):
        PhaseRunner("create", flat(calls)).run(ctx_for(state)[0], RunOptions())
    calls.order.clear()
    report = PhaseRunner("create", flat(calls)).run(ctx_for(state)[0], RunOptions())
    assert calls.order == ["four", "five"]
    assert report.with_status("resumed") == ["one", "two", "three"]


def test_phase_killed_mid_run_with_only_started_recorded_runs_again(state):
    base = {"command": "create", "run": "killed", "fingerprint": ""}
    state.append_history({**base, "phase": "one", "event": "started"})
    state.append_history({**base, "phase": "one", "event": "done", "changed": True, "message": ""})
    state.append_history({**base, "phase": "two", "event": "started"})
    with state.path.joinpath("history.jsonl").open("a") as f:
        f.write('{"command": "create", "run": "kil')  # torn last line from the crash
    calls = Calls()
    report = PhaseRunner("create", flat(calls)).run(ctx_for(state)[0], RunOptions())
    assert calls.order == ["two", "three", "four", "five"]
    assert report.resumed_from == "killed"


def test_keyboard_interrupt_records_failed_interrupted_and_reraises(state):
    calls = Calls()
    calls.fail["two"] = KeyboardInterrupt()
    with pytest.raises(KeyboardInterrupt):
        PhaseRunner("create", flat(calls)).run(ctx_for(state)[0], RunOptions())
    failed = [r for r in state.history() if r.get("event") == "failed"]
    assert [(r["phase"], r["message"]) for r in failed] == [("two", "interrupted")]
    calls.order.clear()
    PhaseRunner("create", flat(calls)).run(ctx_for(state)[0], RunOptions())
    assert calls.order == ["two", "three", "four", "five"]


def test_history_after_a_successful_run(state):
    calls = Calls()
    phases = [calls.sync("one", message="1 thing made"), calls.sync("two", changed=False)]
    report = PhaseRunner("create", phases, fingerprint="abc").run(ctx_for(state)[0], RunOptions())
    records = state.history()
    assert [(r.get("phase"), r["event"]) for r in records] == [
        ("one", "started"),
        ("one", "done"),
        ("two", "started"),
        ("two", "done"),
        (None, "completed"),
    ]
    assert all(r["command"] == "create" and r["fingerprint"] == "abc" for r in records)
    assert {r["run"] for r in records} == {report.run_id}
    assert (records[1]["changed"], records[1]["message"]) == (True, "1 thing made")
    assert records[3]["changed"] is False
    json.dumps(records)  # every record is plain JSON


def test_no_state_means_no_history_and_no_resume():
    calls = Calls()
    con, _ = console()
    report = PhaseRunner("create", flat(calls)).run(Context(state=None, console=con), RunOptions())
    assert report.results["five"].status == "done"


def test_plain_output_has_phase_lines_no_change_and_summary_without_escape_codes(state):
    calls = Calls()
    phases = [
        calls.sync("pki", message="12 certificates created"),
        calls.sync("machines", changed=False),
        Phase("addons", "install add-ons", children=[calls.sync("dns", message="[bold]x[/]")]),
    ]
    ctx, buf = ctx_for(state)
    PhaseRunner("create", phases).run(ctx, RunOptions(skip=["machines"]))
    lines = buf.getvalue().splitlines()
    assert "\x1b" not in buf.getvalue()
    assert any(line.strip().startswith("✓ pki  12 certificates created  (") for line in lines)
    assert any("machines" in line and "skipped" in line for line in lines)
    assert "addons" in [line.strip() for line in lines]
    assert any("addons/dns  [bold]x[/]" in line for line in lines)  # messages are not markup
    assert lines[-1].startswith("create: 2 phases, 2 changed, 1 skipped, ")
    assert lines[-1].endswith("s")


def test_unchanged_phase_says_no_change(state):
    ctx, buf = ctx_for(state)
    PhaseRunner("create", [Calls().sync("pki", changed=False)]).run(ctx, RunOptions())
    assert "pki  no change" in buf.getvalue()
    assert "create: 1 phases, 0 changed" in buf.getvalue()


def test_kubeprov_error_hint_is_kept_in_phase_failed(state):
    calls = Calls()
    calls.fail["two"] = KubeprovError("ssh to 10.0.0.5 refused", "check the machine's firewall")
    with pytest.raises(PhaseFailed) as err:
        PhaseRunner("create", flat(calls)).run(ctx_for(state)[0], RunOptions())
    assert err.value.message == "phase two failed: ssh to 10.0.0.5 refused"
    assert err.value.hint == "check the machine's firewall"


def test_successful_skip_run_leaves_the_skipped_phase_for_the_next_plain_run(state):
    calls = Calls()
    PhaseRunner("create", flat(calls)).run(ctx_for(state)[0], RunOptions(skip=["four"]))
    assert not any(r["event"] == "completed" for r in state.history())
    calls.order.clear()
    PhaseRunner("create", flat(calls)).run(ctx_for(state)[0], RunOptions())
    assert calls.order == ["four"]
    assert state.history()[-1]["event"] == "completed"


def test_dry_run_after_a_failure_shows_resumed_phases_and_plans_the_rest(state):
    calls = Calls()
    calls.fail["three"] = RuntimeError("boom")
    with pytest.raises(PhaseFailed):
        PhaseRunner("create", flat(calls)).run(ctx_for(state)[0], RunOptions())
    before = state.history()
    ctx, buf = ctx_for(state)
    report = PhaseRunner("create", flat(calls)).run(ctx, RunOptions(dry_run=True))
    assert report.with_status("resumed") == ["one", "two"]
    assert report.with_status("planned") == ["three", "four", "five"]
    assert state.history() == before
    assert "would resume" in buf.getvalue()


async def test_cancelled_async_phase_records_interrupted_and_reraises(state):
    calls = Calls()
    calls.fail["machines"] = asyncio.CancelledError()
    with pytest.raises(asyncio.CancelledError):
        await PhaseRunner("create", [calls.aio("machines")]).arun(ctx_for(state)[0], RunOptions())
    assert state.history()[-1]["message"] == "interrupted"


def test_terminal_console_shows_a_spinner_and_still_prints_final_lines(state):
    buf = io.StringIO()
    con = Console(file=buf, force_terminal=True, width=100)
    PhaseRunner("create", [Calls().sync("pki", message="made")]).run(
        Context(state, console=con), RunOptions()
    )
    assert "pki" in buf.getvalue() and "made" in buf.getvalue()
