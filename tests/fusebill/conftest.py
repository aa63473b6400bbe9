"""Fixtures for the Fusebill dialect: a customer billed by the invoice generator, its
invoices posted and partly settled, and tenants to prove isolation and feature gating.

Today (the frozen clock) is 2026-01-10. The customer (Net 30, $30 a month from
2025-10-01) has four posted invoices and one draft:

========  ============  ==========  ======  ==========================  ==============
invoice   invoice date  due date    amount  settled                     status
========  ============  ==========  ======  ==========================  ==============
overdue   2025-11-01    2025-12-01  60.00   nothing                     Overdue
paid      2025-12-01    2025-12-31  30.00   paid 30.00                  Paid
partial   2026-01-01    2026-01-31  30.00   paid 10.00 (20.00 owed)     PartiallyPaid
unpaid    2026-02-01    2026-03-03  30.00   nothing                     Unpaid
draft     2026-03-01    2026-03-31  30.00   (not posted)                -
========  ============  ==========  ======  ==========================  ==============

They are posted one minute apart, from 09:00 to 09:03, in that order.
"""

from __future__ import annotations

import pytest

from billcycle.clock import FrozenClock
from billcycle.runtime import Runtime
from tests.fusebill.helpers import Customer, bill_customer, new_tenant
from tests.support.api import Api, api_for


@pytest.fixture
def customer(api: Api, runtime: Runtime, clock: FrozenClock) -> Customer:
    return bill_customer(api, runtime, clock)


@pytest.fixture
def other_api(api: Api, runtime: Runtime) -> Api:
    """Another tenant (bulk jobs on), through the same client."""
    tenant = new_tenant(runtime, "other tenant", bulk_jobs=True)
    return api_for(api.client, tenant)


@pytest.fixture
def gated_api(api: Api, runtime: Runtime) -> Api:
    """A tenant whose bulk-job feature (and so the write-off API) is off."""
    tenant = new_tenant(runtime, "no bulk jobs", bulk_jobs=False)
    return api_for(api.client, tenant)
