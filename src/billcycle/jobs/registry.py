"""Named tasks and chunk handlers, registered by the domain packages that own them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from billcycle.context import ServiceContext
from billcycle.jobs.chunks import ClaimedChunk

if TYPE_CHECKING:
    from billcycle.jobs.runner import JobRunner


class ChunkHandler(Protocol):
    """Does one chunk's work inside the caller's transaction (which also marks the chunk
    done), and may finish the parent when the chunk was its last."""

    def process(self, runner: JobRunner, ctx: ServiceContext, chunk: ClaimedChunk) -> None: ...

    def give_up(
        self, runner: JobRunner, ctx: ServiceContext, chunk: ClaimedChunk, error: str
    ) -> None:
        """The chunk failed every attempt: record it on the parent."""
        ...


@dataclass
class Registry:
    tasks: dict[str, Callable[..., None]]
    chunk_handlers: dict[str, ChunkHandler]


REGISTRY = Registry(tasks={}, chunk_handlers={})


def task(name: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Register ``fn(runner, **kwargs)`` as the task ``name``."""

    def register(fn: Callable[..., None]) -> Callable[..., None]:
        if name in REGISTRY.tasks and REGISTRY.tasks[name] is not fn:
            raise ValueError(f"task {name} registered twice")
        REGISTRY.tasks[name] = fn
        return fn

    return register


def chunk_handler(kind: str, handler: ChunkHandler) -> None:
    REGISTRY.chunk_handlers[kind] = handler


def describe() -> dict[str, Any]:
    return {"tasks": sorted(REGISTRY.tasks), "chunks": sorted(REGISTRY.chunk_handlers)}
