"""The CronJob controller against the session API server with an injected clock (the test moves time on and
asks the controller to look again), with the Job controller and hollow nodes for the history tests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from kubeprov.api.client import ApiClient
from kubeprov.controllers import job_util as ju
from kubeprov.controllers.cronjob import SCHEDULED_TIMESTAMP, CronJobController
from kubeprov.controllers.job import JobController
from tests.integration.apiserver_fixture import ApiServerForTest
from tests.integration.controller_env import ControllerEnv, controller_env, eventually

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


class Clock:
    """A settable clock, starting at the real time."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC).timestamp()

    def __call__(self) -> float:
        return self.now


class CronEnv:
    def __init__(self, env: ControllerEnv, clock: Clock) -> None:
        self.env = env
        self.clock = clock
        self.ctl = next(c for c in env.controllers if isinstance(c, CronJobController))

    async def create(self, name: str, *, run_seconds: str = "0.2", **spec: Any) -> dict:
        pod_spec = self.env.pod_spec(restartPolicy="Never")
        template = {"metadata": {"annotations": {"hollow.kubeprov.dev/run-seconds": run_seconds}}, "spec": pod_spec}
        body = {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": name},
                "spec": {"schedule": "*/1 * * * *",
                         "jobTemplate": {"metadata": {"labels": {"cron": name}}, "spec": {"template": template}},
                         **spec}}
        return await self.env.client.create("batch/v1", "cronjobs", body, self.env.ns)

    async def tick(self, name: str, seconds: float = 60.0) -> None:
        """Move the clock on and have the controller look at ``name`` again."""
        self.clock.now += seconds
        self.ctl.enqueue(f"{self.env.ns}/{name}")

    async def jobs(self, name: str) -> list[dict]:
        items, _ = await self.env.client.list_all("batch/v1", "jobs", self.env.ns, label_selector=f"cron={name}")
        return sorted((j for j in items if not j["metadata"].get("deletionTimestamp")),
                      key=lambda j: j["metadata"]["name"])

    async def get(self, name: str) -> dict:
        return await self.env.client.get("batch/v1", "cronjobs", name, self.env.ns)

    async def jobs_count(self, name: str, count: int) -> list[dict] | None:
        jobs = await self.jobs(name)
        return jobs if len(jobs) == count else None

    async def reasons(self, name: str) -> set[str]:
        items, _ = await self.env.client.list_all("v1", "events", self.env.ns,
                                                  field_selector=f"involvedObject.name={name}")
        return {e["reason"] for e in items}


@pytest.fixture
async def cron(apiserver: ApiServerForTest, api_client: ApiClient):
    clock = Clock()
    async with controller_env(apiserver, api_client, [CronJobController, JobController], prefix="cron",
                              options={CronJobController: {"clock": clock}}) as env:
        yield CronEnv(env, clock)


async def test_creates_a_job_per_scheduled_time(cron: CronEnv):
    await cron.create("tick")
    before = cron.ctl.metrics.syncs
    await cron.tick("tick", 0)
    await eventually(lambda: _synced_since(cron, before))
    assert await cron.jobs("tick") == []  # nothing is due before the first scheduled minute
    await cron.tick("tick", 61)
    [job] = await eventually(lambda: cron.jobs_count("tick", 1))
    scheduled = int(cron.clock.now) // 60 * 60
    assert job["metadata"]["name"] == f"tick-{scheduled // 60}"
    assert job["metadata"]["annotations"][SCHEDULED_TIMESTAMP] == datetime.fromtimestamp(
        scheduled, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    ref = job["metadata"]["ownerReferences"][0]
    assert (ref["kind"], ref["name"], ref["controller"]) == ("CronJob", "tick", True)
    cj = await eventually(lambda: _with_last_schedule(cron, "tick"))
    assert cj["status"]["lastScheduleTime"] == job["metadata"]["annotations"][SCHEDULED_TIMESTAMP]


async def _with_last_schedule(cron: CronEnv, name: str) -> dict | None:
    cj = await cron.get(name)
    return cj if (cj.get("status") or {}).get("lastScheduleTime") else None


async def test_finished_job_leaves_active_and_sets_last_successful_time(cron: CronEnv):
    await cron.create("done")
    await cron.tick("done", 61)

    async def settled() -> dict | None:
        cj = await cron.get("done")
        st = cj.get("status") or {}
        return cj if st.get("lastSuccessfulTime") and not st.get("active") else None
    await eventually(settled, 30)
    assert {"SuccessfulCreate", "SawCompletedJob"} <= await eventually(lambda: _reasons_with(cron, "done",
                                                                                             "SawCompletedJob"))


async def _reasons_with(cron: CronEnv, name: str, reason: str) -> set[str] | None:
    reasons = await cron.reasons(name)
    return reasons if reason in reasons else None


async def test_forbid_skips_while_a_job_runs(cron: CronEnv):
    await cron.create("forbid", run_seconds="300", concurrencyPolicy="Forbid")
    await cron.tick("forbid", 61)
    [first] = await eventually(lambda: cron.jobs_count("forbid", 1))
    await eventually(lambda: _active_count(cron, "forbid", 1))
    await cron.tick("forbid", 60)
    await eventually(lambda: _reasons_with(cron, "forbid", "JobAlreadyActive"))
    assert [j["metadata"]["name"] for j in await cron.jobs("forbid")] == [first["metadata"]["name"]]


async def _active_count(cron: CronEnv, name: str, count: int) -> list | None:
    active = ((await cron.get(name)).get("status") or {}).get("active") or []
    return active if len(active) == count else None


async def test_replace_deletes_the_running_job(cron: CronEnv):
    await cron.create("replace", run_seconds="300", concurrencyPolicy="Replace")
    await cron.tick("replace", 61)
    [first] = await eventually(lambda: cron.jobs_count("replace", 1))
    await eventually(lambda: _active_count(cron, "replace", 1))
    await cron.tick("replace", 60)

    async def replaced() -> list | None:
        jobs = await cron.jobs("replace")
        return jobs if len(jobs) == 1 and jobs[0]["metadata"]["name"] != first["metadata"]["name"] else None
    [second] = await eventually(replaced)
    [ref] = await eventually(lambda: _active_count(cron, "replace", 1))
    assert ref["name"] == second["metadata"]["name"]


async def test_history_limit_keeps_the_newest_finished_jobs(cron: CronEnv):
    await cron.create("hist", successfulJobsHistoryLimit=1)
    names = []
    for _ in range(3):
        await cron.tick("hist", 60)
        job = await eventually(lambda: _newest_complete(cron, "hist", names))
        names.append(job["metadata"]["name"])
    [kept] = await eventually(lambda: cron.jobs_count("hist", 1))
    assert kept["metadata"]["name"] == names[-1]
    assert "SuccessfulDelete" in await cron.reasons("hist")


async def _newest_complete(cron: CronEnv, name: str, seen: list[str]) -> dict | None:
    for job in await cron.jobs(name):
        if job["metadata"]["name"] not in seen and ju.finished(job) == "Complete":
            return job
    return None


async def test_suspended_cronjob_starts_nothing(cron: CronEnv):
    await cron.create("sleepy", suspend=True)
    before = cron.ctl.metrics.syncs
    await cron.tick("sleepy", 120)
    await eventually(lambda: _synced_since(cron, before))
    assert await cron.jobs("sleepy") == []


async def _synced_since(cron: CronEnv, syncs: int) -> bool:
    return cron.ctl.metrics.syncs > syncs and len(cron.ctl.queue) == 0


async def test_too_many_missed_times_still_runs_the_newest(cron: CronEnv):
    await cron.create("late")
    await cron.tick("late", 200 * 60)
    [job] = await eventually(lambda: cron.jobs_count("late", 1))
    assert job["metadata"]["name"] == f"late-{int(cron.clock.now) // 60}"
    assert await eventually(lambda: _reasons_with(cron, "late", "TooManyMissedTimes"))


async def test_starting_deadline_skips_a_start_that_is_too_late(cron: CronEnv):
    await cron.create("deadline", startingDeadlineSeconds=10)
    minute = int(cron.clock.now) // 60 + 2
    cron.clock.now = minute * 60 + 30  # 30 s after a scheduled minute: too late for it
    before = cron.ctl.metrics.syncs
    await cron.tick("deadline", 0)
    await eventually(lambda: _synced_since(cron, before))
    await cron.tick("deadline", 35)  # 5 s after the next one: in time
    [job] = await eventually(lambda: cron.jobs_count("deadline", 1))
    assert job["metadata"]["name"] == f"deadline-{minute + 1}"


async def test_kubectl_create_job_from_cronjob(cron: CronEnv):
    await cron.create("manual", suspend=True)
    out = await cron.env.kubectl("create", "job", "by-hand", "--from=cronjob/manual")
    assert out.returncode == 0, out.stderr
    job = await cron.env.client.get("batch/v1", "jobs", "by-hand", cron.env.ns)
    assert job["metadata"]["annotations"]["cronjob.kubernetes.io/instantiate"] == "manual"
    assert job["metadata"]["ownerReferences"][0]["kind"] == "CronJob"
    await eventually(lambda: _complete(cron, "by-hand"))


async def _complete(cron: CronEnv, name: str) -> bool:
    return ju.finished(await cron.env.client.get("batch/v1", "jobs", name, cron.env.ns)) == "Complete"
