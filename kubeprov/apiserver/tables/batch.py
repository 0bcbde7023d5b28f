"""Printers of batch/v1: jobs (with the STATUS column of 1.32) and cron jobs."""

from __future__ import annotations

from datetime import datetime

from kubeprov.apiserver.tables.age import between, parse_timestamp, since
from kubeprov.apiserver.tables.common import (
    AGE,
    CONTAINERS_DESCRIPTION,
    IMAGES_DESCRIPTION,
    NAME,
    NONE,
    Column,
    Printer,
    bool_word,
    containers,
    creation,
    format_label_selector,
    get,
    name_of,
    wide,
)

SELECTOR_DESCRIPTION = "Label query over the pods the job runs."


def _has_condition(job: dict, kind: str) -> bool:
    for condition in get(job, "status", "conditions", default=[]):
        if condition.get("type") == kind:
            return condition.get("status") == "True"
    return False


def job_status(job: dict) -> str:
    if _has_condition(job, "Complete"):
        return "Complete"
    if _has_condition(job, "Failed"):
        return "Failed"
    if get(job, "metadata", "deletionTimestamp"):
        return "Terminating"
    if _has_condition(job, "Suspended"):
        return "Suspended"
    if _has_condition(job, "FailureTarget"):
        return "FailureTarget"
    return "Running"


def job_completions(job: dict) -> str:
    succeeded = get(job, "status", "succeeded", default=0)
    completions = get(job, "spec", "completions")
    if completions is not None:
        return f"{succeeded}/{completions}"
    parallelism = get(job, "spec", "parallelism", default=0)
    return f"{succeeded}/1 of {parallelism}" if parallelism > 1 else f"{succeeded}/1"


def job_duration(job: dict, now: datetime) -> str:
    start = get(job, "status", "startTime")
    if parse_timestamp(start) is None:
        return ""
    end = get(job, "status", "completionTime")
    return between(start, end) if end else since(start, now)


def _job_cells(job: dict, now: datetime) -> list:
    names, images = containers(get(job, "spec", "template", "spec"))
    return [name_of(job), job_status(job), job_completions(job), job_duration(job, now), since(creation(job), now),
            names, images, format_label_selector(get(job, "spec", "selector"))]


JOB = Printer(
    (NAME, Column("Status", description="Status of the job."),
     Column("Completions", description="The number of pods which reached phase Succeeded."),
     Column("Duration", description="Time required to complete the job."), AGE,
     wide("Containers", CONTAINERS_DESCRIPTION), wide("Images", IMAGES_DESCRIPTION),
     wide("Selector", SELECTOR_DESCRIPTION)),
    _job_cells,
)


def _cron_job_cells(cj: dict, now: datetime) -> list:
    spec = cj.get("spec") or {}
    last = get(cj, "status", "lastScheduleTime")
    names, images = containers(get(spec, "jobTemplate", "spec", "template", "spec"))
    return [name_of(cj), spec.get("schedule", ""), spec.get("timeZone") or NONE, bool_word(spec.get("suspend")),
            len(get(cj, "status", "active", default=[])), since(last, now) if last else NONE,
            since(creation(cj), now), names, images,
            format_label_selector(get(spec, "jobTemplate", "spec", "selector"))]


CRON_JOB = Printer(
    (NAME, Column("Schedule", description="The schedule in Cron format."),
     Column("Timezone", description="The time zone name for the given schedule."),
     Column("Suspend", "boolean", "Whether subsequent executions are suspended."),
     Column("Active", "integer", "Number of currently running jobs."),
     Column("Last Schedule", description="When the job was last successfully scheduled."), AGE,
     wide("Containers", CONTAINERS_DESCRIPTION), wide("Images", IMAGES_DESCRIPTION),
     wide("Selector", SELECTOR_DESCRIPTION)),
    _cron_job_cells,
)
