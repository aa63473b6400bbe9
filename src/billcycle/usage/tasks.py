"""Background work of usage: loading an uploaded usage file."""

from __future__ import annotations

from billcycle.jobs.registry import task
from billcycle.jobs.runner import JobRunner
from billcycle.usage import imports


@task("usage.import")
def load_import(runner: JobRunner, *, tenant_id: int, import_id: int) -> None:
    """Pending -> Processing (committed, so a client polling sees it) -> Completed or
    Failed. Guarded by the status: a second delivery finds nothing Pending and stops."""
    with runner.context(tenant_id) as ctx:
        if not imports.begin_import(ctx, import_id):
            return
    with runner.context(tenant_id) as ctx:
        imports.process_import(ctx, import_id)
