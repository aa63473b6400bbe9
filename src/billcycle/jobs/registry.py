"""The one registry of background work: named tasks, chunk handlers and periodic jobs.

Each domain package registers its own in its ``tasks.py`` with the decorators below;
``billcycle.tasks`` imports every such module, once, before a process runs a worker.
The registry sits below the runner (the runner reads it, it never imports the runner),
so what it stores is typed by what the runner hands over: handlers and tasks annotate
their ``runner`` parameter with ``billcycle.jobs.runner.JobRunner`` themselves.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from billcycle.context import ServiceContext
from billcycle.jobs.chunks import ClaimedChunk

RunnerT = TypeVar("RunnerT", contravariant=True)


class ChunkHandler(Protocol[RunnerT]):
    """Does one chunk's work inside the caller's transaction (which also marks the chunk
    done), and may finish the parent when the chunk was its last."""

    def process(self, runner: RunnerT, ctx: ServiceContext, chunk: ClaimedChunk) -> None: ...

    def give_up(
        self, runner: RunnerT, ctx: ServiceContext, chunk: ClaimedChunk, error: str
    ) -> None:
        """The chunk failed every attempt: record it on the parent."""
        ...


# ``fn(runner, **kwargs)``, and ``fn(runner)`` run on every scheduler tick.
Task = Callable[..., None]
Periodic = Callable[[Any], None]
TaskT = TypeVar("TaskT", bound=Task)
PeriodicT = TypeVar("PeriodicT", bound=Periodic)


@dataclass
class Registry:
    tasks: dict[str, Task] = field(default_factory=dict)
    chunk_handlers: dict[str, ChunkHandler[Any]] = field(default_factory=dict)
    periodic: list[Periodic] = field(default_factory=list)
    # Set by ``billcycle.tasks`` once every task module is imported: a runner built
    # before that would silently miss some domain's work.
    loaded: bool = False


REGISTRY = Registry()


def task(name: str) -> Callable[[TaskT], TaskT]:
    """Register ``fn(runner, **kwargs)`` as the task ``name``."""

    def register(fn: TaskT) -> TaskT:
        if REGISTRY.tasks.get(name, fn) is not fn:
            raise ValueError(f"task {name} registered twice")
        REGISTRY.tasks[name] = fn
        return fn

    return register


def chunk_handler(kind: str, handler: ChunkHandler[Any]) -> None:
    """Register the handler of chunks of ``kind`` (a work_chunks.kind value)."""
    REGISTRY.chunk_handlers[kind] = handler


def periodic(fn: PeriodicT) -> PeriodicT:
    """Run ``fn(runner)`` on every scheduler tick (it must be cheap when idle)."""
    if fn not in REGISTRY.periodic:
        REGISTRY.periodic.append(fn)
    return fn


def mark_loaded() -> None:
    REGISTRY.loaded = True


def require_loaded() -> None:
    if not REGISTRY.loaded:
        raise RuntimeError(
            "background work is registered by importing billcycle.tasks: the process's "
            "entry point must import it before building a job runner"
        )
