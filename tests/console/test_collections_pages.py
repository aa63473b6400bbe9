"""Accounts in dunning with their next retry, and the dashboard's collections card."""

from __future__ import annotations

from datetime import timedelta

from fastapi import FastAPI
from fastapi.testclient import TestClient

from billcycle.clock import FrozenClock
from billcycle.jobs.dispatch import ManualDispatcher
from billcycle.runtime import Runtime
from billcycle.users.roles import Role
from tests.collections.helpers import dunning_customer, move_to
from tests.console.helpers import add_user, sign_in
from tests.support.api import Api


def test_accounts_in_dunning_show_their_next_retry(
    app: FastAPI, api: Api, runtime: Runtime, jobs: ManualDispatcher, clock: FrozenClock
) -> None:
    customer = dunning_customer(api, runtime, jobs)
    move_to(clock, jobs, customer.due_date + timedelta(days=1))  # day 1: attempted, declined
    person = add_user(runtime, api.tenant.tenant_id, "dun@example.com", Role.VIEWER)
    with TestClient(app) as client:
        sign_in(client, person)
        page = client.get("/collections").text
        assert customer.account_number in page
        assert "PoorStanding" in page
        # The policy's next day (3 after the due date) is the next retry.
        assert (customer.due_date + timedelta(days=3)).isoformat() in page
        dashboard = client.get("/").text
        assert customer.account_number in dashboard.split("Accounts in collections")[1]
        account = client.get(f"/accounts/{customer.account_id}").text
        assert "PoorStanding" in account
        assert "Attempt" in account
        aging = client.get("/receivables").text
        assert "$30.00" in aging
