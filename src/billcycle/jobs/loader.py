"""Imports the modules that register tasks and chunk handlers."""

from __future__ import annotations

import importlib

TASK_MODULES = ("billcycle.billruns.tasks", "billcycle.bulkjobs.engine")


def load_all() -> None:
    for name in TASK_MODULES:
        importlib.import_module(name)
