"""Runs on the machine: compare the wanted tree with what is there, fix directories, mark units to restart.

Input (JSON file, argv[1]): {"dirs": [{path, mode}], "files": [{path, mode, sha256}], "services": [...]};
paths are relative to the root (argv[2]). Output (stdout, JSON): {"copy": [paths that differ],
"units": [units marked], "dirs": [directories created or re-moded]}. A unit is marked (a file in
<root>/var/lib/kubeprov/install/restart/) before its files are copied, so an interrupted run still
restarts it next time.
"""

import hashlib
import json
import os
import sys

UNIT_DIRS = ("etc/systemd/system/", "lib/systemd/system/", "usr/lib/systemd/system/")


def sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def differs(path: str, wanted: dict) -> bool:
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return True
    if not os.path.isfile(path) or os.path.islink(path):
        return True
    if "%04o" % (info.st_mode & 0o7777) != wanted["mode"]:
        return True
    return sha256(path) != wanted["sha256"]


def unit_files(unit: str) -> set[str]:
    return {d + unit for d in UNIT_DIRS}


def main() -> None:
    with open(sys.argv[1]) as handle:
        plan = json.load(handle)
    root = sys.argv[2]
    dirs = []
    for entry in plan["dirs"]:
        path = os.path.join(root, entry["path"])
        mode = int(entry["mode"], 8)
        if not os.path.isdir(path):
            os.makedirs(path, mode=mode, exist_ok=True)
            os.chmod(path, mode)
            dirs.append(entry["path"])
        elif os.stat(path).st_mode & 0o7777 != mode:
            os.chmod(path, mode)
            dirs.append(entry["path"])
    copy = [f["path"] for f in plan["files"] if differs(os.path.join(root, f["path"]), f)]
    changed = {"/" + p for p in copy}
    units = []
    for service in plan["services"]:
        unit = service["unit"]
        watched = set(service.get("files") or []) | {"/" + p for p in unit_files(unit)}
        dropins = tuple("/" + d + unit + ".d/" for d in UNIT_DIRS)
        if watched & changed or any(c.startswith(dropins) for c in changed):
            units.append(unit)
    pending = os.path.join(root, "var/lib/kubeprov/install/restart")
    if units or any(p.startswith(UNIT_DIRS) for p in copy):
        os.makedirs(pending, mode=0o700, exist_ok=True)
    for unit in units:
        with open(os.path.join(pending, unit), "w") as marker:
            marker.write("files changed\n")
    if any(p.startswith(UNIT_DIRS) for p in copy):
        with open(os.path.join(pending, ".daemon-reload"), "w") as marker:
            marker.write("unit files changed\n")
    json.dump({"copy": copy, "units": units, "dirs": dirs}, sys.stdout)


main()
