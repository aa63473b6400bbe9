"""Demo data: a small catalog, ~50 accounts with subscriptions and their invoices.

Everything goes through the domain services (the same rules as the API), with a fixed
random seed so two machines get the same demo.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import func, select

from billcycle.accounts import service as accounts
from billcycle.accounts.inputs import ContactInput, NewAccount
from billcycle.accounts.models import Account
from billcycle.accounts.payment_terms import PaymentTerm
from billcycle.catalog import service as catalog
from billcycle.catalog.inputs import NewCharge, NewProduct, NewRatePlan, TierInput
from billcycle.catalog.vocabulary import BillingPeriod, ChargeModel, ChargeType
from billcycle.context import ServiceContext
from billcycle.invoicing.generator import GenerationOptions, generate_invoices
from billcycle.invoicing.service import post_invoices
from billcycle.subscriptions import service as subscriptions
from billcycle.subscriptions.inputs import NewSubscription, ObjectKey, RatePlanInput
from billcycle.subscriptions.statuses import TermPeriodType, TermType

DEMO_TENANT = "demo"

_FIRST = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Radia"]
_LAST = ["Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson"]
_COMPANIES = ["Analytical", "Compiler", "Lambda", "Semaphore", "Heap", "Kernel", "Vector"]
_SUFFIXES = ["Labs", "Works", "Systems", "Partners", "Co", "Industries"]


@dataclass(frozen=True)
class DemoSummary:
    accounts: int
    subscriptions: int
    invoices: int


def has_demo_data(ctx: ServiceContext) -> bool:
    count = ctx.session.scalar(
        select(func.count()).select_from(Account).where(Account.tenant_id == ctx.tenant_id)
    )
    return bool(count)


def _tier(currency: str, price: str, **kwargs: object) -> TierInput:
    return TierInput(currency=currency, price=Decimal(price), **kwargs)  # type: ignore[arg-type]


def _catalog(ctx: ServiceContext) -> list[int]:
    """Creates the catalog; returns the rate plan ids customers subscribe to."""
    start, end = date(2020, 1, 1), date(2099, 12, 31)
    platform = catalog.create_product(
        ctx,
        NewProduct(
            name="Cloud Platform",
            sku="CLOUD",
            effective_start_date=start,
            effective_end_date=end,
            description="Hosted platform",
        ),
    )
    support = catalog.create_product(
        ctx,
        NewProduct(
            name="Support", sku="SUPPORT", effective_start_date=start, effective_end_date=end
        ),
    )
    basic = catalog.create_rate_plan(ctx, NewRatePlan(platform.id, "Basic"))
    catalog.create_charge(
        ctx,
        NewCharge(
            basic.id,
            "Basic monthly fee",
            ChargeType.Recurring,
            ChargeModel.FlatFee,
            [_tier("USD", "29"), _tier("EUR", "27")],
            billing_period=BillingPeriod.Month,
        ),
    )
    pro = catalog.create_rate_plan(ctx, NewRatePlan(platform.id, "Pro"))
    catalog.create_charge(
        ctx,
        NewCharge(
            pro.id,
            "Pro seats",
            ChargeType.Recurring,
            ChargeModel.PerUnit,
            [_tier("USD", "12"), _tier("EUR", "11")],
            billing_period=BillingPeriod.Month,
            default_quantity=Decimal(5),
            uom="Each",
        ),
    )
    enterprise = catalog.create_rate_plan(ctx, NewRatePlan(platform.id, "Enterprise"))
    catalog.create_charge(
        ctx,
        NewCharge(
            enterprise.id,
            "Enterprise seats",
            ChargeType.Recurring,
            ChargeModel.Tiered,
            [
                _tier("USD", "100", starting_unit=Decimal(0), ending_unit=Decimal(10)),
                _tier("USD", "80", starting_unit=Decimal(11), ending_unit=Decimal(50)),
                _tier("USD", "60", starting_unit=Decimal(51)),
                _tier("EUR", "92", starting_unit=Decimal(0), ending_unit=Decimal(10)),
                _tier("EUR", "74", starting_unit=Decimal(11), ending_unit=Decimal(50)),
                _tier("EUR", "55", starting_unit=Decimal(51)),
            ],
            billing_period=BillingPeriod.Quarter,
            default_quantity=Decimal(20),
            uom="Each",
        ),
    )
    premium = catalog.create_rate_plan(ctx, NewRatePlan(support.id, "Premium Support"))
    catalog.create_charge(
        ctx,
        NewCharge(
            premium.id,
            "Premium support",
            ChargeType.Recurring,
            ChargeModel.FlatFee,
            [_tier("USD", "99"), _tier("EUR", "90")],
            billing_period=BillingPeriod.Month,
        ),
    )
    catalog.create_charge(
        ctx,
        NewCharge(
            premium.id,
            "Onboarding",
            ChargeType.OneTime,
            ChargeModel.FlatFee,
            [_tier("USD", "500"), _tier("EUR", "460")],
        ),
    )
    return [basic.id, pro.id, enterprise.id, premium.id]


def load_demo(ctx: ServiceContext, *, accounts_count: int = 50, seed: int = 2026) -> DemoSummary:
    rng = random.Random(seed)
    plans = _catalog(ctx)
    today = ctx.clock.today()
    subscription_count = 0
    account_ids: list[int] = []
    for index in range(accounts_count):
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        name = f"{rng.choice(_COMPANIES)} {rng.choice(_SUFFIXES)} {index + 1}"
        account = accounts.create_account(
            ctx,
            NewAccount(
                name=name,
                currency="EUR" if index % 5 == 4 else "USD",
                bill_to_contact=ContactInput(
                    first_name=first,
                    last_name=last,
                    work_email=f"{first.lower()}.{last.lower()}{index + 1}@example.com",
                    country="US",
                ),
                bill_cycle_day=rng.choice([1, 1, 1, 15, 28]),
                batch=1 + index % 3,
                payment_term=rng.choice(
                    [PaymentTerm.DUE_UPON_RECEIPT, PaymentTerm.NET_15, PaymentTerm.NET_30]
                ),
            ),
        )
        account_ids.append(account.id)
        for plan_id in rng.sample(plans, k=rng.choice([1, 1, 2])):
            start = today - timedelta(days=rng.randint(20, 200))
            subscriptions.create_subscription(
                ctx,
                NewSubscription(
                    account=ObjectKey(account.id, account.account_number),
                    contract_effective_date=start,
                    term_type=TermType.TERMED,
                    initial_term=12,
                    initial_term_period_type=TermPeriodType.MONTH,
                    renewal_term=12,
                    auto_renew=True,
                    rate_plans=(RatePlanInput(ObjectKey(plan_id, str(plan_id))),),
                ),
            )
            subscription_count += 1
    # Bill everyone up to the start of this month and post it, leaving this month's
    # periods for a bill run to pick up.
    first_of_month = today.replace(day=1)
    result = generate_invoices(
        ctx, account_ids, GenerationOptions(target_date=first_of_month, invoice_date=first_of_month)
    )
    post_invoices(ctx, result.invoice_ids)
    return DemoSummary(len(account_ids), subscription_count, len(result.invoice_ids))
