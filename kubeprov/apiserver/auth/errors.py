"""The failure every authenticator raises for credentials that were presented but do not hold."""

from __future__ import annotations


class AuthenticationError(Exception):
    """Credentials presented and rejected; the request is answered 401 (TokenReview: ``error``).

    Authenticators return None instead when a credential is simply not theirs to judge.
    """
