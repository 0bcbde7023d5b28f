"""The one error every streaming module may raise before an upgrade."""


class BadRequest(ValueError):
    """A request answered with a 400 Status before any upgrade (bad options, no upgrade asked for...)."""
