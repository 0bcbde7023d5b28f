"""The Job and TTL-after-finished controllers against the session API server, with hollow nodes whose
containers exit (``sh -c "exit N"``, ``hollow.kubeprov.dev/run-seconds``)."""

from __future__ import annotations

from typing import Any

import pytest

from kubeprov.api.client import ApiClient
from kubeprov.api.informer import Informer
from kubeprov.controllers import job_util as ju
from kubeprov.controllers.job import JobController
from kubeprov.controllers.ttlafterfinished import TTLAfterFinishedController
from tests.integration.apiserver_fixture import ApiServerForTest
from tests.integration.controller_env import ControllerEnv, controller_env, eventually

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

FAST = {JobController: {"backoff_base": 0.2, "backoff_max": 1.0}}


def job_body(env: ControllerEnv, name: str, *, exit_code: int = 0, run_seconds: str | None = None,
             **spec: Any) -> dict:
    pod_spec = env.pod_spec(restartPolicy="Never")
    pod_spec["containers"][0]["command"] = ["sh", "-c", f"exit {exit_code}"]
    template: dict = {"spec": pod_spec}
    if run_seconds is not None:
        template["metadata"] = {"annotations": {"hollow.kubeprov.dev/run-seconds": run_seconds}}
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
            "spec": {"template": template, **spec}}


async def create_job(env: ControllerEnv, name: str, **kwargs: Any) -> dict:
    return await env.client.create("batch/v1", "jobs", job_body(env, name, **kwargs), env.ns)


async def get_job(env: ControllerEnv, name: str) -> dict:
    return await env.client.get("batch/v1", "jobs", name, env.ns)


def conditions(job: dict) -> dict[str, dict]:
    return {c["type"]: c for c in (job.get("status") or {}).get("conditions") or [] if c.get("status") == "True"}


async def wait_condition(env: ControllerEnv, name: str, type_: str, timeout: float = 30.0) -> dict:
    async def check() -> dict | None:
        job = await get_job(env, name)
        return job if type_ in conditions(job) else None
    return await eventually(check, timeout)


async def events(env: ControllerEnv, name: str) -> list[str]:
    items, _ = await env.client.list_all("v1", "events", env.ns, field_selector=f"involvedObject.name={name}")
    return [e["reason"] for e in items]


class MaxActive:
    """Watches a Job's pods and records the most that were running at once."""

    def __init__(self, client: ApiClient, ns: str, job: str) -> None:
        self.informer = Informer(client, "v1", "pods", namespace=ns, label_selector=f"{ju.NAME_LABEL}={job}")
        self.most = 0
        self.informer.add_handler(on_add=self._check, on_update=lambda _o, n: self._check(n), on_delete=self._check)

    def _check(self, _pod: dict) -> None:
        self.most = max(self.most, sum(1 for p in self.informer.list() if ju.is_active(p)))

    async def __aenter__(self) -> MaxActive:
        await self.informer.start()
        await self.informer.wait_synced(10)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.informer.stop()


@pytest.fixture
async def env(apiserver: ApiServerForTest, api_client: ApiClient):
    async with controller_env(apiserver, api_client, [JobController, TTLAfterFinishedController], prefix="job",
                              options={JobController: FAST[JobController]}) as e:
        yield e


async def test_completions_with_parallelism_never_exceed_parallelism(env: ControllerEnv):
    async with MaxActive(env.client, env.ns, "five") as watch:
        await create_job(env, "five", run_seconds="0.3", completions=5, parallelism=2)
        job = await wait_condition(env, "five", "Complete")
    assert watch.most == 2
    st = job["status"]
    assert st["succeeded"] == 5 and not st.get("failed") and not st.get("active")
    assert "SuccessCriteriaMet" in conditions(job) and st["completionTime"] and st["startTime"]
    assert st.get("uncountedTerminatedPods") in ({}, None)


async def test_pods_carry_job_labels_finalizer_and_owner(env: ControllerEnv):
    job = await create_job(env, "labels", run_seconds="30")
    pods = await eventually(lambda: env.pods(f"{ju.NAME_LABEL}=labels"))
    pod = pods[0]
    labels = pod["metadata"]["labels"]
    uid = job["metadata"]["uid"]
    assert (labels[ju.NAME_LABEL], labels[ju.UID_LABEL], labels["job-name"], labels["controller-uid"]) == (
        "labels", uid, "labels", uid)
    assert ju.TRACKING_FINALIZER in pod["metadata"]["finalizers"]
    ref = pod["metadata"]["ownerReferences"][0]
    assert (ref["kind"], ref["uid"], ref["controller"]) == ("Job", uid, True)


async def test_finished_pods_lose_the_tracking_finalizer(env: ControllerEnv):
    await create_job(env, "fin", completions=2, parallelism=2)
    await wait_condition(env, "fin", "Complete")
    pods = await env.pods(f"{ju.NAME_LABEL}=fin", active_only=False)
    assert len(pods) == 2 and not any(ju.has_finalizer(p) for p in pods)
    assert await eventually(lambda: _has_events(env, "fin", {"SuccessfulCreate", "Completed"}))


async def _has_events(env: ControllerEnv, name: str, reasons: set[str]) -> bool:
    return reasons <= set(await events(env, name))


async def test_backoff_limit_fails_the_job(env: ControllerEnv):
    await create_job(env, "fails", exit_code=1, backoffLimit=2)
    job = await wait_condition(env, "fails", "Failed")
    cond = conditions(job)["Failed"]
    assert cond["reason"] == "BackoffLimitExceeded"
    assert conditions(job)["FailureTarget"]["reason"] == "BackoffLimitExceeded"
    assert job["status"]["failed"] == 3 and not job["status"].get("succeeded")
    assert "Complete" not in conditions(job)
    assert await eventually(lambda: _has_events(env, "fails", {"BackoffLimitExceeded"}))


async def test_active_deadline_fails_and_deletes_running_pods(env: ControllerEnv):
    await create_job(env, "slow", run_seconds="300", parallelism=2, completions=2, activeDeadlineSeconds=2)
    job = await wait_condition(env, "slow", "Failed")
    assert conditions(job)["Failed"]["reason"] == "DeadlineExceeded"
    assert not job["status"].get("active")
    assert await eventually(lambda: _none_left(env, "slow"))


async def _none_left(env: ControllerEnv, name: str) -> bool:
    return not await env.pods(f"{ju.NAME_LABEL}={name}")


async def test_indexed_job_runs_each_index_once(env: ControllerEnv):
    await create_job(env, "idx", run_seconds="0.2", completions=3, parallelism=3, completionMode="Indexed")
    job = await wait_condition(env, "idx", "Complete")
    assert job["status"]["completedIndexes"] == "0-2" and job["status"]["succeeded"] == 3
    pods = await env.pods(f"{ju.NAME_LABEL}=idx", active_only=False)
    indexes = sorted(p["metadata"]["annotations"][ju.COMPLETION_INDEX] for p in pods)
    assert indexes == ["0", "1", "2"]
    pod = next(p for p in pods if p["metadata"]["labels"][ju.COMPLETION_INDEX] == "1")
    assert pod["metadata"]["name"].startswith("idx-1-") and pod["spec"]["hostname"] == "idx-1"
    env_var = pod["spec"]["containers"][0]["env"][0]
    assert env_var["name"] == "JOB_COMPLETION_INDEX"
    assert env_var["valueFrom"]["fieldRef"]["fieldPath"] == f"metadata.annotations['{ju.COMPLETION_INDEX}']"


async def test_suspended_job_runs_nothing_until_resumed(env: ControllerEnv):
    await create_job(env, "sus", run_seconds="0.2", suspend=True)
    job = await wait_condition(env, "sus", "Suspended")
    assert conditions(job)["Suspended"]["reason"] == "JobSuspended"
    assert not await env.pods(f"{ju.NAME_LABEL}=sus") and not job["status"].get("startTime")
    await env.client.patch("batch/v1", "jobs", "sus", {"spec": {"suspend": False}}, env.ns)
    job = await wait_condition(env, "sus", "Complete")
    assert job["status"]["startTime"]


async def test_ttl_deletes_the_finished_job(env: ControllerEnv):
    await create_job(env, "ttl", ttlSecondsAfterFinished=1)
    await wait_condition(env, "ttl", "Complete")

    async def gone() -> bool:
        items, _ = await env.client.list_all("batch/v1", "jobs", env.ns, field_selector="metadata.name=ttl")
        return not items
    assert await eventually(gone, 20)


async def test_kubectl_wait_for_complete(env: ControllerEnv):
    await create_job(env, "waited", completions=2)
    out = await env.kubectl("wait", "--for=condition=complete", "job/waited", "--timeout=30s")
    assert out.returncode == 0, out.stderr
    assert "condition met" in out.stdout


async def test_pod_failure_policy_fail_job_on_exit_code(env: ControllerEnv):
    policy = {"rules": [{"action": "FailJob", "onExitCodes": {"operator": "In", "values": [42]}}]}
    await create_job(env, "fatal", exit_code=42, backoffLimit=5, podFailurePolicy=policy)
    job = await wait_condition(env, "fatal", "Failed")
    assert conditions(job)["Failed"]["reason"] == "PodFailurePolicy"
    assert "exit code 42" in conditions(job)["Failed"]["message"]
    assert job["status"]["failed"] == 1


async def test_pod_failure_policy_ignored_failures_do_not_count(env: ControllerEnv):
    policy = {"rules": [{"action": "Ignore", "onExitCodes": {"operator": "In", "values": [3]}}]}
    await create_job(env, "shrug", exit_code=3, backoffLimit=0, podFailurePolicy=policy)

    async def retried() -> bool:
        pods = await env.pods(f"{ju.NAME_LABEL}=shrug", active_only=False)
        return sum(1 for p in pods if p["status"].get("phase") == "Failed") >= 1 and len(pods) >= 3
    await eventually(retried)
    job = await get_job(env, "shrug")
    assert "Failed" not in conditions(job) and not job["status"].get("failed")


async def test_pods_of_a_deleted_job_lose_the_finalizer(env: ControllerEnv):
    await create_job(env, "gone", run_seconds="300")
    [pod] = await eventually(lambda: env.pods(f"{ju.NAME_LABEL}=gone"))
    assert ju.has_finalizer(pod)
    await env.client.delete("batch/v1", "jobs", "gone", env.ns)

    async def released() -> bool:
        fresh = await env.client.get("v1", "pods", pod["metadata"]["name"], env.ns)
        return not ju.has_finalizer(fresh)
    assert await eventually(released)
