"""Jobs and CronJobs on `kubeprov dev up --hollow-nodes 5`, judged by the real kubectl only."""

from __future__ import annotations

import pytest

from tests.integration.dev_cluster import DevClusterForTest, poll

pytestmark = [pytest.mark.integration, pytest.mark.timeout(200)]

RUN_ONE_SECOND = {"hollow.kubeprov.dev/run-seconds": "1"}


def pod_template() -> dict:
    return {"metadata": {"annotations": dict(RUN_ONE_SECOND)},
            "spec": {"restartPolicy": "Never", "terminationGracePeriodSeconds": 0,
                     "containers": [{"name": "work", "image": "busybox:1.36", "command": ["sh", "-c", "true"]}]}}


def test_job_with_completions_and_parallelism_completes(dev_cluster: DevClusterForTest):
    ns = dev_cluster.namespace("batch")
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "five"},
           "spec": {"completions": 5, "parallelism": 2, "template": pod_template()}}
    dev_cluster.apply(ns, job)
    out = dev_cluster.ok("-n", ns, "wait", "--for=condition=complete", "job/five", "--timeout=120s", timeout=130)
    assert "condition met" in out
    done = dev_cluster.json("-n", ns, "get", "job", "five")
    assert done["status"]["succeeded"] == 5 and not done["status"].get("failed")
    pods = dev_cluster.json("-n", ns, "get", "pods", "-l", "batch.kubernetes.io/job-name=five")["items"]
    assert len(pods) == 5 and {p["status"]["phase"] for p in pods} == {"Succeeded"}
    assert "5/5" in dev_cluster.ok("-n", ns, "get", "job", "five")  # the COMPLETIONS column


def test_cronjob_runs_every_minute_and_keeps_one_successful_job(dev_cluster: DevClusterForTest):
    ns = dev_cluster.namespace("cron")
    cronjob = {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "minutely"},
               "spec": {"schedule": "*/1 * * * *", "successfulJobsHistoryLimit": 1,
                        "jobTemplate": {"spec": {"template": pod_template()}}}}
    dev_cluster.apply(ns, cronjob)
    seen: set[str] = set()

    def finished_jobs() -> list[str]:
        items = dev_cluster.json("-n", ns, "get", "jobs")["items"]
        seen.update(j["metadata"]["name"] for j in items)
        return [j["metadata"]["name"] for j in items
                if any(c["type"] == "Complete" and c["status"] == "True" for c in j["status"].get("conditions", []))]

    def pruned() -> list[str] | None:
        """After two runs, only the newer finished Job is left."""
        done = finished_jobs()
        return done if len(seen) >= 2 and len(done) == 1 and done[0] != min(seen) else None

    kept = poll(pruned, timeout=180, what="a second run and the history limit")
    assert kept == [max(seen, key=lambda name: int(name.rsplit("-", 1)[1]))]
    cj = dev_cluster.json("-n", ns, "get", "cronjob", "minutely")
    assert cj["status"]["lastScheduleTime"] and cj["status"]["lastSuccessfulTime"]
    job = dev_cluster.json("-n", ns, "get", "job", kept[0])
    assert job["metadata"]["annotations"]["batch.kubernetes.io/cronjob-scheduled-timestamp"]
    assert job["metadata"]["ownerReferences"][0]["kind"] == "CronJob"
