"""The static token file (``--token-auth-file``): ``token,user,uid[,"group1,group2"]`` per line."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from kubeprov.apiserver.auth.user import UserInfo


class TokenFileError(ValueError):
    """The token file cannot be used; the server should refuse to start, as Kubernetes does."""


def parse_token_file(text: str, origin: str = "token file") -> dict[str, UserInfo]:
    """Token → user. Quoted CSV fields may hold commas; a later duplicate token wins; empty tokens
    are skipped; fewer than three columns is an error."""
    tokens: dict[str, UserInfo] = {}
    try:
        rows = list(csv.reader(io.StringIO(text), strict=True))
    except csv.Error as exc:
        raise TokenFileError(f"token file '{origin}' is not valid CSV: {exc}") from exc
    for record in rows:
        if not record:
            continue
        if len(record) < 3:
            raise TokenFileError(
                f"token file '{origin}' must have at least 3 columns (token, user name, user uid), found {len(record)}"
            )
        if not record[0]:
            continue
        groups = tuple(record[3].split(",")) if len(record) >= 4 else ()
        tokens[record[0]] = UserInfo(record[1], uid=record[2], groups=groups)
    return tokens


class StaticTokenAuthenticator:
    """Looks bearer tokens up in the token file read at start-up."""

    def __init__(self, path: Path) -> None:
        self._tokens = parse_token_file(Path(path).read_text(), str(path))

    def authenticate(self, token: str) -> UserInfo | None:
        return self._tokens.get(token)
