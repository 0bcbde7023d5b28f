"""Shared object machinery of the API server: pure functions over plain JSON dicts.

- :mod:`kubeprov.api.fielderrors`: field paths and validation errors worded like Kubernetes.
- :mod:`kubeprov.api.names`: name, label, annotation and ``metadata`` validation.
- :mod:`kubeprov.api.labels` / :mod:`kubeprov.api.fields`: label and field selectors.
- :mod:`kubeprov.api.status`: ``metav1.Status`` failures and :class:`StatusError`.
- :mod:`kubeprov.api.quantity`: ``resource.Quantity`` parsing, arithmetic and formatting.
- :mod:`kubeprov.api.patch`: JSON patch, JSON merge patch and strategic merge patch.
"""

from kubeprov.api.fielderrors import ErrorType, FieldError, Path
from kubeprov.api.labels import Selector, SelectorError
from kubeprov.api.quantity import Quantity, QuantityError
from kubeprov.api.status import StatusError

__all__ = [
    "ErrorType",
    "FieldError",
    "Path",
    "Quantity",
    "QuantityError",
    "Selector",
    "SelectorError",
    "StatusError",
]
