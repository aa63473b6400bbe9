"""Helpers shared by CLI commands."""

from __future__ import annotations

import logging

from rich.console import Console

from billcycle.config import Settings, get_settings
from billcycle.runtime import Runtime, build_runtime

console = Console()
err_console = Console(stderr=True)


def settings_with(database_url: str | None) -> Settings:
    settings = get_settings()
    if database_url:
        settings = settings.model_copy(update={"database_url": database_url})
    return settings


def runtime_for(database_url: str | None) -> Runtime:
    logging.basicConfig(level=logging.WARNING)
    return build_runtime(settings_with(database_url))
