"""DefaultStorageClass: claims without a class get the default one."""

from __future__ import annotations

from tests.unit.test_admission_fakes import Cluster, create

PLUGINS = ["DefaultStorageClass"]
DEFAULT = {"storageclass.kubernetes.io/is-default-class": "true"}


def storage_class(cluster: Cluster, name: str, annotations: dict | None = None, created: str = "2024-01-01T00:00:00Z",
                  **kw) -> None:
    meta = {"name": name, "creationTimestamp": created}
    if annotations:
        meta["annotations"] = annotations
    cluster.add({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": meta,
                 "provisioner": "example.com/disk"}, "storageclasses", "storage.k8s.io", **kw)


def claim(**spec) -> dict:
    return {"metadata": {"name": "data", "namespace": "team"},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}, **spec}}


async def test_a_claim_without_a_class_gets_the_default_class():
    cluster = Cluster()
    storage_class(cluster, "slow")
    storage_class(cluster, "fast", DEFAULT)
    obj = claim()
    await create(cluster, cluster.admission(PLUGINS), obj, "persistentvolumeclaims")
    assert obj["spec"]["storageClassName"] == "fast"


async def test_the_newest_of_several_defaults_wins():
    cluster = Cluster()
    storage_class(cluster, "old", DEFAULT, "2024-01-01T00:00:00Z")
    storage_class(cluster, "new", DEFAULT, "2024-06-01T00:00:00Z")
    storage_class(cluster, "newer-but-beta", {"storageclass.beta.kubernetes.io/is-default-class": "true"},
                  "2024-03-01T00:00:00Z")
    obj = claim()
    await create(cluster, cluster.admission(PLUGINS), obj, "persistentvolumeclaims")
    assert obj["spec"]["storageClassName"] == "new"


async def test_equally_old_defaults_are_chosen_by_name():
    cluster = Cluster()
    storage_class(cluster, "b", DEFAULT)
    storage_class(cluster, "a", DEFAULT)
    obj = claim()
    await create(cluster, cluster.admission(PLUGINS), obj, "persistentvolumeclaims")
    assert obj["spec"]["storageClassName"] == "a"


async def test_without_a_default_class_the_claim_keeps_no_class():
    cluster = Cluster()
    storage_class(cluster, "slow", {"storageclass.kubernetes.io/is-default-class": "false"})
    obj = claim()
    await create(cluster, cluster.admission(PLUGINS), obj, "persistentvolumeclaims")
    assert "storageClassName" not in obj["spec"]


async def test_an_explicit_class_even_empty_is_kept():
    cluster = Cluster()
    storage_class(cluster, "fast", DEFAULT)
    for chosen in ("", "slow"):
        obj = claim(storageClassName=chosen)
        await create(cluster, cluster.admission(PLUGINS), obj, "persistentvolumeclaims")
        assert obj["spec"]["storageClassName"] == chosen


async def test_a_default_class_only_etcd_has_seen_is_used():
    cluster = Cluster()
    storage_class(cluster, "fast", DEFAULT, cached=False)
    obj = claim()
    await create(cluster, cluster.admission(PLUGINS), obj, "persistentvolumeclaims")
    assert obj["spec"]["storageClassName"] == "fast"


async def test_updates_are_not_defaulted():
    cluster = Cluster()
    storage_class(cluster, "fast", DEFAULT)
    obj = claim()
    await cluster.admission(PLUGINS).mutate(cluster.call("persistentvolumeclaims", "team", "data", verb="update"),
                                            obj, claim())
    assert "storageClassName" not in obj["spec"]
