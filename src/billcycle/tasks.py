"""Every module that registers background work, in one list: importing this module is
what makes a process able to run a worker (``billcycle serve``/``worker``, the CLI
one-shots, the benchmarks, the tests), and a new domain package's ``tasks.py`` is added
here.

It sits above the domain packages it imports (like an entry point), so neither the job
layer nor any domain package imports it: the job runner only checks that it was.
"""

from __future__ import annotations

from billcycle.audit import tasks as audit_tasks
from billcycle.billruns import tasks as billruns_tasks
from billcycle.bulkjobs import payment_tasks as bulkpayment_tasks
from billcycle.bulkjobs import tasks as bulkjobs_tasks
from billcycle.collections import tasks as collections_tasks
from billcycle.jobs.registry import mark_loaded
from billcycle.paymentruns import schedule_tasks as paymentrun_schedule_tasks
from billcycle.paymentruns import tasks as paymentruns_tasks
from billcycle.payments import tasks as payments_tasks
from billcycle.usage import tasks as usage_tasks
from billcycle.webhooks import tasks as webhooks_tasks

TASK_MODULES = (
    audit_tasks,
    billruns_tasks,
    bulkjobs_tasks,
    bulkpayment_tasks,
    collections_tasks,
    payments_tasks,
    paymentruns_tasks,
    paymentrun_schedule_tasks,
    usage_tasks,
    webhooks_tasks,
)

mark_loaded()
