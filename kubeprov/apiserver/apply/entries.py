"""``metadata.managedFields``: decoding, encoding, ordering and capping the entries.

Entries are identified as Kubernetes identifies them: manager, operation, subresource and,
for updates only, the API version (an applier is one entry whatever version it applies with).
An entry keeps the FieldsV1 document it was read from and decodes it only when its set has
to change, so the many untouched entries of an object cost nothing on a write.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from kubeprov.apiserver.apply.fieldset import FieldSet, FieldsV1Error, Path

APPLY = "Apply"
UPDATE = "Update"
MAX_UPDATE_MANAGERS = 10
ANCIENT_CHANGES = "ancient-changes"

Key = tuple[str, str, str, str]  # manager, operation, apiVersion ("" for Apply), subresource


class ManagedFieldsError(ValueError):
    """managedFields that cannot be decoded."""


def entry_key(manager: str, operation: str, api_version: str, subresource: str) -> Key:
    """The identity of an entry."""
    return (manager, operation, api_version if operation != APPLY else "", subresource)


@dataclass
class Entry:
    """One managedFields entry."""

    manager: str
    operation: str
    api_version: str
    subresource: str = ""
    time: str | None = None
    raw: dict[str, Any] | None = None
    decoded: FieldSet | None = field(default=None, repr=False)

    @property
    def key(self) -> Key:
        return entry_key(self.manager, self.operation, self.api_version, self.subresource)

    def fields(self) -> FieldSet:
        """The owned set (decoded on first use)."""
        if self.decoded is None:
            self.decoded = FieldSet.from_fields_v1(self.raw or {})
        return self.decoded

    def replace(self, fields: FieldSet) -> None:
        """Own ``fields`` instead (the FieldsV1 document is re-encoded on output)."""
        self.decoded, self.raw = fields, None

    def owns_any(self, paths: list[Path]) -> bool:
        """Whether any of ``paths`` is owned, without decoding an untouched entry."""
        if self.decoded is not None or self.raw is None:
            fields = self.fields()
            return any(fields.has(p) for p in paths)
        return any(_raw_has(self.raw, p) for p in paths)

    def encode(self) -> dict[str, Any]:
        """The wire form, keys in the order Kubernetes writes them."""
        out: dict[str, Any] = {"manager": self.manager, "operation": self.operation, "apiVersion": self.api_version}
        if self.time is not None:
            out["time"] = self.time
        out["fieldsType"] = "FieldsV1"
        out["fieldsV1"] = self.raw if self.raw is not None else self.fields().to_fields_v1()
        if self.subresource:
            out["subresource"] = self.subresource
        return out


def _raw_has(doc: dict[str, Any], path: Path) -> bool:
    for pe in path[:-1]:
        doc = doc.get(pe)  # type: ignore[assignment]
        if not isinstance(doc, dict) or not doc:
            return False
    sub = doc.get(path[-1])
    return isinstance(sub, dict) and (not sub or "." in sub)


def is_reset(entries: Any) -> bool:
    """``[]`` or ``[{}]``: the client asks for managedFields to be cleared."""
    if isinstance(entries, list):
        if not entries:
            return True
        if len(entries) == 1 and isinstance(entries[0], dict):
            return all(v in (None, "", {}) for v in entries[0].values())
    return False


def decode(entries: Any, *, check_fields: bool = False) -> dict[Key, Entry]:
    """Entries by identity, validated as Kubernetes validates them; a later duplicate wins.
    ``check_fields`` decodes every FieldsV1 now (for managedFields sent by a client)."""
    if entries is None:
        return {}
    if not isinstance(entries, list):
        raise ManagedFieldsError("managedFields must be a list")
    out: dict[Key, Entry] = {}
    for i, item in enumerate(entries):
        if not isinstance(item, dict):
            raise ManagedFieldsError(f"managed fields entry {i} is not an object")
        operation = item.get("operation")
        if operation not in (APPLY, UPDATE):
            raise ManagedFieldsError("operation must be `Apply` or `Update`")
        api_version = item.get("apiVersion") or ""
        if not api_version:
            raise ManagedFieldsError("apiVersion must not be empty")
        fields_type = item.get("fieldsType") or ""
        if not fields_type:
            raise ManagedFieldsError(f"missing fieldsType in managed fields entry {i}")
        if fields_type != "FieldsV1":
            raise ManagedFieldsError(f'invalid fieldsType "{fields_type}" in managed fields entry {i}')
        raw = item.get("fieldsV1")
        if raw is not None and not isinstance(raw, dict):
            raise ManagedFieldsError(f"error decoding set: fieldsV1 of entry {i} is not an object")
        time = item.get("time")
        entry = Entry(
            manager=str(item.get("manager") or ""),
            operation=operation,
            api_version=str(api_version),
            subresource=str(item.get("subresource") or ""),
            time=time if isinstance(time, str) and time else None,
            raw=raw if raw is not None else {},
        )
        if check_fields:
            try:
                entry.fields()
            except FieldsV1Error as err:
                raise ManagedFieldsError(f"error decoding set: {err}") from err
        out[entry.key] = entry
    return out


def seconds(time: str | None) -> float:
    """The Unix time of an entry (0 without a time), which orders entries."""
    if not time:
        return 0.0
    try:
        return datetime.fromisoformat(time.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


def rfc3339(now: datetime | None) -> str:
    """``now`` (default: the current time) as managedFields times are written."""
    moment = now or datetime.now(UTC)
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def encode(entries: dict[Key, Entry]) -> list[dict[str, Any]] | None:
    """The managedFields list in Kubernetes' order (``None`` when empty: the key is left out)."""
    if not entries:
        return None
    ordered = sorted(
        entries.values(),
        key=lambda e: (e.operation, int(seconds(e.time)), e.manager, e.api_version, e.subresource),
    )
    return [e.encode() for e in ordered]


def cap_updaters(entries: dict[Key, Entry], limit: int = MAX_UPDATE_MANAGERS) -> None:
    """Merge the oldest update entries into per-version ``ancient-changes`` entries until at
    most ``limit`` update entries remain (apply entries are never merged)."""
    updaters = [key for key, e in entries.items() if e.operation == UPDATE]
    if len(updaters) <= limit:
        return
    updaters.sort(key=lambda k: (int(seconds(entries[k].time)), k))
    first_of_version: dict[str, Key] = {}
    length = len(updaters)
    for key in updaters:
        if length <= limit:
            break
        entry = entries[key]
        version = entry.api_version
        bucket = entry_key(ANCIENT_CHANGES, UPDATE, version, "")
        if version not in first_of_version:
            first_of_version[version] = key
            continue
        if bucket not in entries:
            first = entries.pop(first_of_version[version])
            entries[bucket] = Entry(ANCIENT_CHANGES, UPDATE, version, "", first.time, first.raw, first.decoded)
        target = entries[bucket]
        target.replace(entry.fields().union(target.fields()))
        target.time = entry.time
        del entries[key]
        length -= 1
