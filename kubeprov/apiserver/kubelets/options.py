"""The query options of pods/log, exec, attach and portforward, parsed and validated as kube-apiserver does.

Malformed values are 400 with the parser's message (as the API's query parameter codec answers);
values that parse but are out of range are 422 ``PodLogOptions "p" is invalid: ...``. The result is
the query string the kubelet expects (``/exec`` takes ``input``/``output``/``error``/``tty=1``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlencode

from multidict import MultiMapping

from kubeprov.api import fielderrors, status
from kubeprov.api.status import StatusError

_TRUE = ("1", "t", "T", "TRUE", "true", "True")
_FALSE = ("0", "f", "F", "FALSE", "false", "False")
Query = MultiMapping[str] | Mapping[str, str]


def _bad(message: str) -> StatusError:
    return StatusError(status.bad_request(message))


def parse_bool(query: Query, name: str) -> bool:
    """Go's strconv.ParseBool, which the query parameter codec uses; an empty value is false."""
    value = query.get(name)
    if value is None or value == "" or value in _FALSE:
        return False
    if value in _TRUE:
        return True
    raise _bad(f'strconv.ParseBool: parsing "{value}": invalid syntax')


def parse_int(query: Query, name: str) -> int | None:
    value = query.get(name)
    if value is None or value == "":
        return None
    text = value[1:] if value[:1] in "+-" else value
    if not text.isdigit():
        raise _bad(f'strconv.ParseInt: parsing "{value}": invalid syntax')
    number = int(value)
    if not -(1 << 63) <= number < (1 << 63):
        raise _bad(f'strconv.ParseInt: parsing "{value}": value out of range')
    return number


def parse_time(query: Query, name: str) -> datetime | None:
    value = query.get(name)
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _bad(f'parsing time "{value}" as "2006-01-02T15:04:05Z07:00": cannot parse "{value}" as '
                   '"2006"') from None


def _rfc3339(when: datetime) -> str:
    text = when.replace(microsecond=0).isoformat()
    return text.replace("+00:00", "Z")


@dataclass(frozen=True)
class LogOptions:
    """PodLogOptions."""

    container: str = ""
    follow: bool = False
    previous: bool = False
    timestamps: bool = False
    since_seconds: int | None = None
    since_time: datetime | None = None
    tail_lines: int | None = None
    limit_bytes: int | None = None
    insecure_skip_tls_verify_backend: bool = False

    @classmethod
    def parse(cls, query: Query, pod: str) -> LogOptions:
        opts = cls(container=query.get("container", ""), follow=parse_bool(query, "follow"),
                   previous=parse_bool(query, "previous"), timestamps=parse_bool(query, "timestamps"),
                   since_seconds=parse_int(query, "sinceSeconds"), since_time=parse_time(query, "sinceTime"),
                   tail_lines=parse_int(query, "tailLines"), limit_bytes=parse_int(query, "limitBytes"),
                   insecure_skip_tls_verify_backend=parse_bool(query, "insecureSkipTLSVerifyBackend"))
        errors = opts.validate()
        if errors:
            raise StatusError(status.invalid("PodLogOptions", "", pod, errors))
        return opts

    def validate(self) -> list[fielderrors.FieldError]:
        """ValidatePodLogOptions."""
        errors = []
        if self.tail_lines is not None and self.tail_lines < 0:
            errors.append(fielderrors.invalid("tailLines", self.tail_lines, "must be greater than or equal to 0"))
        if self.limit_bytes is not None and self.limit_bytes < 1:
            errors.append(fielderrors.invalid("limitBytes", self.limit_bytes, "must be greater than 0"))
        if self.since_seconds is not None and self.since_time is not None:
            errors.append(fielderrors.forbidden("", "at most one of `sinceTime` or `sinceSeconds` may be specified"))
        elif self.since_seconds is not None and self.since_seconds < 1:
            errors.append(fielderrors.invalid("sinceSeconds", self.since_seconds, "must be greater than 0"))
        return errors

    def kubelet_query(self) -> str:
        """The kubelet's /containerLogs query, in LogLocation's order (url.Values.Encode sorts the keys)."""
        params: dict[str, str] = {}
        if self.follow:
            params["follow"] = "true"
        if self.previous:
            params["previous"] = "true"
        if self.timestamps:
            params["timestamps"] = "true"
        if self.since_seconds is not None:
            params["sinceSeconds"] = str(self.since_seconds)
        if self.since_time is not None:
            params["sinceTime"] = _rfc3339(self.since_time)
        if self.tail_lines is not None:
            params["tailLines"] = str(self.tail_lines)
        if self.limit_bytes is not None:
            params["limitBytes"] = str(self.limit_bytes)
        return urlencode(sorted(params.items()))


@dataclass(frozen=True)
class StreamOptions:
    """PodExecOptions / PodAttachOptions: which streams, a TTY, and for exec the command."""

    container: str = ""
    stdin: bool = False
    stdout: bool = False
    stderr: bool = False
    tty: bool = False
    command: tuple[str, ...] = field(default=())

    @classmethod
    def parse(cls, query: Query, exec_: bool) -> StreamOptions:
        getall = getattr(query, "getall", None)
        command = tuple(getall("command", [])) if getall is not None else tuple(filter(None, [query.get("command")]))
        if exec_ and not command:
            raise _bad("you must specify at least 1 command")
        return cls(container=query.get("container", ""), stdin=parse_bool(query, "stdin"),
                   stdout=parse_bool(query, "stdout"), stderr=parse_bool(query, "stderr"),
                   tty=parse_bool(query, "tty"), command=command)

    def kubelet_query(self) -> str:
        """streamParams: the kubelet reads input/output/error/tty as "1" and the command words."""
        params = [(name, "1") for name, on in (("input", self.stdin), ("output", self.stdout),
                                               ("error", self.stderr), ("tty", self.tty)) if on]
        params += [("command", word) for word in self.command]
        return urlencode(sorted(params, key=lambda p: p[0]))


def portforward_query(query: Query) -> str:
    """PodPortForwardOptions ``ports`` become the kubelet's ``port`` parameters (each 1-65535)."""
    getall = getattr(query, "getall", None)
    ports = list(getall("ports", [])) if getall is not None else [p for p in [query.get("ports")] if p]
    words = [w.strip() for p in ports for w in p.split(",") if w.strip()]
    for word in words:
        if not word.isdigit() or not 0 < int(word) < 65536:
            raise _bad(f'strconv.ParseInt: parsing "{word}": invalid syntax' if not word.isdigit()
                       else f"port {word} must be between 1 and 65535")
    return urlencode([("port", w) for w in words])
