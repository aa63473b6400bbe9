"""Usage records through the API: create, read, change, delete, list; and the tenant's
units of measure.

A billed record (one a live invoice item billed: see ``repository.billing_items``) can no
longer be changed or deleted: a RuleViolation (400), as Zuora refuses it. A new record
dated in a period already billed is late usage: accepted, and billed once by the next
bill run of its charge (docs/usage.md).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from billcycle.context import ServiceContext
from billcycle.errors import Conflict, InvalidValue, NotFound, RuleViolation
from billcycle.events import service as events
from billcycle.events.statuses import EventType
from billcycle.unset import UNSET
from billcycle.usage import repository as repo
from billcycle.usage import validation
from billcycle.usage.inputs import NewUom, NewUsage, UsageChanges
from billcycle.usage.models import UOM, USAGE, UnitOfMeasure, UsageRecord
from billcycle.usage.statuses import UsageSource, UsageStatus

UOM_NAME_MAX = 25
DESCRIPTION_MAX = 200


def _bad(message: str, field: str | None = None) -> InvalidValue:
    return InvalidValue(message, resource=USAGE, field=field)


def usage_day(start: datetime) -> date:
    """The usage date is the date of StartDateTime as the client wrote it."""
    return start.date()


def _instant(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# -- units of measure ----------------------------------------------------------------------


def list_uoms(ctx: ServiceContext) -> list[UnitOfMeasure]:
    return repo.list_uoms(ctx.session, ctx.tenant_id)


def create_uom(ctx: ServiceContext, spec: NewUom) -> UnitOfMeasure:
    name = spec.name.strip()
    if not name or len(name) > UOM_NAME_MAX:
        raise InvalidValue(
            f"A unit of measure name is 1 to {UOM_NAME_MAX} characters.", resource=UOM, field="name"
        )
    if not 0 <= spec.decimal_places <= 9:
        raise InvalidValue("decimalPlaces must be 0 to 9.", resource=UOM, field="decimalPlaces")
    if repo.find_uom(ctx.session, ctx.tenant_id, name) is not None:
        raise Conflict(f"Unit of measure {name} already exists.", resource=UOM)
    now = ctx.clock.now()
    uom = UnitOfMeasure(
        tenant_id=ctx.tenant_id,
        name=name,
        display_name=spec.display_name,
        decimal_places=spec.decimal_places,
        active=True,
        created_at=now,
        updated_at=now,
    )
    repo.add(ctx.session, uom)
    return uom


def delete_uom(ctx: ServiceContext, name: str) -> None:
    uom = repo.find_uom(ctx.session, ctx.tenant_id, name)
    if uom is None:
        raise NotFound(f"Unit of measure {name} does not exist.", resource=UOM)
    if repo.uom_in_use(ctx.session, ctx.tenant_id, uom.name):
        raise RuleViolation(
            f"Unit of measure {uom.name} has usage records and cannot be deleted.", resource=UOM
        )
    repo.delete_uom(ctx.session, uom)


# -- records -------------------------------------------------------------------------------


def _resolve(
    ctx: ServiceContext,
    account_id: int,
    account_label: str,
    *,
    subscription_number: str | None,
    charge_number: str | None,
    uom_name: str,
    quantity: Decimal,
    start: datetime,
) -> tuple[repo.UsageCharge, UnitOfMeasure]:
    uoms = repo.uoms_by_name(ctx.session, ctx.tenant_id)
    uom = validation.find_uom(uoms, uom_name)
    if isinstance(uom, str):
        raise _bad(uom, "UOM")
    problem = validation.check_quantity(quantity, uom)
    if problem is not None:
        raise _bad(problem, "Quantity")
    charges = repo.usage_charges(ctx.session, ctx.tenant_id, [account_id]).get(account_id, [])
    picked = validation.pick_charge(
        charges,
        account=account_label,
        subscription_number=subscription_number,
        charge_number=charge_number,
        uom=uom,
        usage_date=usage_day(start),
    )
    if isinstance(picked, str):
        raise RuleViolation(picked, resource=USAGE)
    return picked, uom


def create_usage(ctx: ServiceContext, spec: NewUsage) -> UsageRecord:
    session, tenant_id = ctx.session, ctx.tenant_id
    account_id: int | None = None
    label = spec.account_number or ""
    if spec.account_id is not None:
        numbers = repo.account_numbers(session, tenant_id, [spec.account_id])
        if spec.account_id in numbers:
            account_id, label = spec.account_id, numbers[spec.account_id]
    elif spec.account_number:
        account_id = repo.accounts_by_number(session, tenant_id, [spec.account_number]).get(
            spec.account_number
        )
    else:
        raise InvalidValue(
            "AccountId or AccountNumber is required.", resource=USAGE, field="AccountNumber"
        )
    if account_id is None:
        raise NotFound(f"Account {label or spec.account_id} does not exist.", resource=USAGE)
    if spec.description is not None and len(spec.description) > DESCRIPTION_MAX:
        raise _bad(f"Description is at most {DESCRIPTION_MAX} characters.", "Description")
    if spec.end is not None and _instant(spec.end) < _instant(spec.start):
        raise _bad("EndDateTime is before StartDateTime.", "EndDateTime")
    repo.lock_account(session, tenant_id, account_id)
    charge, uom = _resolve(
        ctx,
        account_id,
        label,
        subscription_number=spec.subscription_number,
        charge_number=spec.charge_number,
        uom_name=spec.uom,
        quantity=spec.quantity,
        start=spec.start,
    )
    now = ctx.clock.now()
    record = UsageRecord(
        tenant_id=tenant_id,
        account_id=account_id,
        subscription_id=charge.subscription_id,
        subscription_charge_id=charge.id,
        uom=uom.name,
        quantity=spec.quantity,
        start_date_time=_instant(spec.start),
        end_date_time=None if spec.end is None else _instant(spec.end),
        usage_date=usage_day(spec.start),
        description=spec.description,
        source=UsageSource.API.value,
        late=validation.is_late(charge, usage_day(spec.start)),
        created_at=now,
        updated_at=now,
    )
    repo.add(session, record)
    events.emit(ctx, EventType.USAGE_CREATED, record)
    return record


def get_usage(ctx: ServiceContext, record_id: int) -> UsageRecord:
    record = repo.get_record(ctx.session, ctx.tenant_id, record_id)
    if record is None:
        raise NotFound("Usage {usage} does not exist.", resource=USAGE, ids={"usage": record_id})
    return record


def status_of(view: repo.RecordView) -> UsageStatus:
    return UsageStatus.PENDING if view.billed_by is None else UsageStatus.PROCESSED


def _editable(ctx: ServiceContext, record: UsageRecord) -> None:
    """Billed usage (an invoice item of a live invoice billed it) is Processed and can no
    longer change, as Zuora refuses it. An unbilled record (late usage included) is
    Pending: it may. Asked under the account's lock, which bill runs take too."""
    billed = repo.billing_items(ctx.session, ctx.tenant_id, [record.id])
    if billed.get(record.id) is not None:
        raise RuleViolation(
            "The usage is billed (on an invoice of a bill run); usage on a billed period "
            "cannot be changed or deleted.",
            resource=USAGE,
        )


def update_usage(ctx: ServiceContext, record_id: int, changes: UsageChanges) -> UsageRecord:
    record = get_usage(ctx, record_id)
    repo.lock_account(ctx.session, ctx.tenant_id, record.account_id)
    _editable(ctx, record)
    start = record.start_date_time if changes.start is UNSET else changes.start
    uom_name = record.uom if changes.uom is UNSET else changes.uom
    quantity = record.quantity if changes.quantity is UNSET else changes.quantity
    view = repo.record_views(ctx.session, ctx.tenant_id, [record])[0]
    charge, uom = _resolve(
        ctx,
        record.account_id,
        view.account_number,
        subscription_number=view.subscription_number,
        charge_number=view.charge_number,
        uom_name=uom_name,
        quantity=quantity,
        start=start,
    )
    if changes.start is not UNSET:
        record.start_date_time = _instant(changes.start)
        record.usage_date = usage_day(changes.start)
    if changes.end is not UNSET:
        record.end_date_time = None if changes.end is None else _instant(changes.end)
    if record.end_date_time is not None and record.end_date_time < record.start_date_time:
        raise _bad("EndDateTime is before StartDateTime.", "EndDateTime")
    record.uom = uom.name
    record.quantity = quantity
    record.subscription_charge_id = charge.id
    record.subscription_id = charge.subscription_id
    record.late = validation.is_late(charge, record.usage_date)
    record.updated_at = ctx.clock.now()
    ctx.session.flush()
    return record


def delete_usage(ctx: ServiceContext, record_id: int) -> None:
    record = get_usage(ctx, record_id)
    repo.lock_account(ctx.session, ctx.tenant_id, record.account_id)
    _editable(ctx, record)
    repo.delete_record(ctx.session, record)


def describe(ctx: ServiceContext, records: list[UsageRecord]) -> list[repo.RecordView]:
    return repo.record_views(ctx.session, ctx.tenant_id, records)


def account_usage(
    ctx: ServiceContext, account_id: int, *, page: int, page_size: int
) -> tuple[list[repo.RecordView], bool]:
    """One page of the account's records (oldest first) and whether another follows."""
    rows = repo.account_records(
        ctx.session, ctx.tenant_id, account_id, offset=(page - 1) * page_size, limit=page_size + 1
    )
    more = len(rows) > page_size
    return describe(ctx, rows[:page_size]), more
