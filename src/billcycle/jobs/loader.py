"""Imports the modules that register tasks and chunk handlers."""

from __future__ import annotations

import importlib

TASK_MODULES = ("billcycle.billruns.engine", "billcycle.bulkjobs.engine")


def load_all() -> None:
    for name in TASK_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
