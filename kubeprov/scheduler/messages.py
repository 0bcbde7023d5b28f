"""The FailedScheduling event message, worded and ordered as kube-scheduler's FitError."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

NO_NODE_AVAILABLE = "0/{} nodes are available"
PREEMPTION_NOT_HELPFUL = "Preemption is not helpful for scheduling"
NO_PREEMPTION_VICTIMS = "No preemption victims found for incoming pod"
PREEMPTION_POLICY_NEVER = "not eligible due to preemptionPolicy=Never."
NODE_AFFINITY_PREFILTER_ABSENT = "node(s) didn't satisfy plugin(s) [NodeAffinity]"


def reasons_histogram(reason_lists: Iterable[Iterable[str]]) -> list[str]:
    """Each reason counted over the nodes, as "<count> <reason>", sorted as plain strings (count first)."""
    counts: Counter[str] = Counter()
    for reasons in reason_lists:
        counts.update(reasons)
    return sorted(f"{n} {reason}" for reason, n in counts.items())


def fit_error(
    num_all_nodes: int,
    reason_lists: Iterable[Iterable[str]],
    *,
    pre_filter_msg: str = "",
    post_filter_msg: str = "",
) -> str:
    """``0/N nodes are available: <histogram>. <post-filter message>`` (FitError.Error of 1.32).

    A pre-filter rejection replaces the histogram; the post-filter message is appended as is (it brings its own
    full stop).
    """
    msg = NO_NODE_AVAILABLE.format(num_all_nodes) + ":"
    if pre_filter_msg:
        msg += f" {pre_filter_msg}."
    else:
        histogram = reasons_histogram(reason_lists)
        if histogram:
            msg += f" {', '.join(histogram)}."
    if post_filter_msg:
        msg += f" {post_filter_msg}"
    return msg


def preemption_message(num_all_nodes: int, reason_lists: Iterable[Iterable[str]]) -> str:
    """The default preemption plugin's message when no candidate was found."""
    return "preemption: " + fit_error(num_all_nodes, reason_lists)
