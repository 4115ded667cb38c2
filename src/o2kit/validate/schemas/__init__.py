"""Shapes of the JSON bodies OpenObserve accepts, one table per resource kind.

``SHAPES[kind]`` is the shape of a desired resource's ``body`` (see ``o2kit.model``): the inner v8
dashboard, the v2 alert, the destination, the template, the folder. ``o2kit.validate.rules`` checks
a
body against its shape first, then applies the rules a shape cannot express (grid, SQL, names,
references between resources).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Mapping

from o2kit.validate.schemas.alert import ALERT
from o2kit.validate.schemas.dashboard import DASHBOARD
from o2kit.validate.schemas.notify import DESTINATION, FOLDER, TEMPLATE
from o2kit.validate.schemas.shapes import Shape, check, format_path


def _discovered() -> dict[str, Shape]:
    """The shape of every kind that has a module of its own here: a module defining ``KIND``
    (the kind's name) and ``SHAPE`` is registered by being there."""
    found: dict[str, Shape] = {}
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        kind, shape = getattr(module, "KIND", None), getattr(module, "SHAPE", None)
        if isinstance(kind, str) and shape is not None:
            found[kind] = shape
    return found


SHAPES: Mapping[str, Shape] = {
    "folder": FOLDER,
    "template": TEMPLATE,
    "destination": DESTINATION,
    "dashboard": DASHBOARD,
    "alert": ALERT,
    **_discovered(),
}

__all__ = ["SHAPES", "Shape", "check", "format_path"]
