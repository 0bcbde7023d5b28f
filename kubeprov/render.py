"""Render the jinja2 templates shipped in kubeprov/templates (configs, units, manifests)."""

from __future__ import annotations

from typing import Any

import jinja2


def render(template: str, **values: Any) -> str:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("kubeprov", "templates"),
        undefined=jinja2.StrictUndefined,  # a missing value is a bug, not an empty string
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    return env.get_template(template).render(**values)
