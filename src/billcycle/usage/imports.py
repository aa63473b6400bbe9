"""Usage file imports: the upload stores the file in pieces and enqueues the import; a
worker parses, validates and loads it.

The file is Zuora's usage CSV (``ACCOUNT_ID, UOM, QTY, STARTDATE, ENDDATE,
SUBSCRIPTION_ID, CHARGE_ID, DESCRIPTION``; the first four are required, columns in any
order, dates ``MM/DD/YYYY`` or ``YYYY-MM-DD``). The import is atomic, as Zuora documents
for ``POST /v1/usage``: if any row fails, nothing of the file is loaded and the import
is ``Failed`` with each bad row's line number and reason (the first 100 are kept).

Loading streams: pieces are read one at a time, rows are validated and written in
batches (COPY on PostgreSQL, executemany on SQLite) inside a savepoint that is rolled
back if any row failed, so memory stays bounded whatever the file's size.
"""

from __future__ import annotations

import codecs
import csv
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from billcycle.context import ServiceContext
from billcycle.errors import InvalidValue, NotFound
from billcycle.usage import repository as repo
from billcycle.usage import validation
from billcycle.usage.models import USAGE_IMPORT, UsageImport
from billcycle.usage.statuses import ImportStatus, UsageSource

PART_BYTES = 1024 * 1024
BATCH_ROWS = 20_000
ERRORS_KEPT = 100
FILE_NAME_MAX = 255
REQUIRED = ("ACCOUNT_ID", "UOM", "QTY", "STARTDATE")
KNOWN = (*REQUIRED, "ENDDATE", "SUBSCRIPTION_ID", "CHARGE_ID", "DESCRIPTION")


def start_import(ctx: ServiceContext, file_name: str, pieces: Iterable[bytes]) -> UsageImport:
    """Store the file (in ``PART_BYTES`` pieces) as a Pending import and enqueue it."""
    name = file_name.replace("\\", "/").rsplit("/", 1)[-1].strip()
    if not name:
        raise InvalidValue("The file part needs a file name.", resource=USAGE_IMPORT, field="file")
    if len(name) > FILE_NAME_MAX:
        raise InvalidValue(
            f"The file name is longer than {FILE_NAME_MAX} characters.",
            resource=USAGE_IMPORT,
            field="file",
        )
    if not name.lower().endswith(".csv"):
        raise InvalidValue(
            f"Usage files are CSV (a .csv file); {name!r} is not.",
            resource=USAGE_IMPORT,
            field="file",
        )
    now = ctx.clock.now()
    job = UsageImport(
        tenant_id=ctx.tenant_id,
        file_name=name,
        size=0,
        status=ImportStatus.PENDING.value,
        total_records=0,
        loaded_records=0,
        error_count=0,
        created_at=now,
        updated_at=now,
    )
    repo.add(ctx.session, job)
    size = 0
    seq = 0
    buffer = bytearray()
    for piece in pieces:
        buffer += piece
        while len(buffer) >= PART_BYTES:
            repo.add_part(ctx.session, ctx.tenant_id, job.id, seq, bytes(buffer[:PART_BYTES]))
            size += PART_BYTES
            seq += 1
            del buffer[:PART_BYTES]
    if buffer:
        repo.add_part(ctx.session, ctx.tenant_id, job.id, seq, bytes(buffer))
        size += len(buffer)
    if size == 0:
        raise InvalidValue("The usage file is empty.", resource=USAGE_IMPORT, field="file")
    job.size = size
    ctx.session.flush()
    ctx.enqueue("usage.import", tenant_id=ctx.tenant_id, import_id=job.id)
    return job


def get_import(ctx: ServiceContext, import_id: int) -> UsageImport:
    job = repo.get_import(ctx.session, ctx.tenant_id, import_id)
    if job is None:
        raise NotFound(
            "Usage import {import} does not exist.",
            resource=USAGE_IMPORT,
            ids={"import": import_id},
        )
    return job


def import_errors(job: UsageImport) -> list[dict[str, Any]]:
    return list(json.loads(job.errors)) if job.errors else []


# -- the worker's part ---------------------------------------------------------------------


def _lines(pieces: Iterable[bytes]) -> Iterator[str]:
    decoder = codecs.getincrementaldecoder("utf-8-sig")(errors="strict")
    rest = ""
    for piece in pieces:
        text = rest + decoder.decode(piece)
        lines = text.split("\n")
        rest = lines.pop()
        for line in lines:
            yield line + "\n"
    rest += decoder.decode(b"", final=True)
    if rest:
        yield rest


def _parse_date(value: str) -> date | None:
    value = value.strip()
    try:
        if "/" in value:
            month, day, year = value.split(" ", 1)[0].split("/")
            return date(int(year), int(month), int(day))
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


@dataclass(slots=True)
class _Row:
    line: int
    account: str
    uom: str
    quantity: Decimal
    start: date
    end: date | None
    subscription: str | None
    charge: str | None
    description: str | None


@dataclass(slots=True)
class _Outcome:
    total: int = 0
    loaded: int = 0
    errors: int = 0


class _Loader:
    def __init__(self, ctx: ServiceContext, job_id: int) -> None:
        self.ctx = ctx
        self.job_id = job_id
        self.uoms = repo.uoms_by_name(ctx.session, ctx.tenant_id)
        self.accounts: dict[str, int | None] = {}
        self.charges: dict[int, list[repo.UsageCharge]] = {}
        self.errors: list[dict[str, Any]] = []
        self.outcome = _Outcome()
        self.now = ctx.clock.now()

    def fail(self, line: int, reason: str) -> None:
        self.outcome.errors += 1
        if len(self.errors) < ERRORS_KEPT:
            self.errors.append({"row": line, "reason": reason})

    def parse(self, line: int, cells: list[str], columns: dict[str, int]) -> _Row | None:
        def cell(name: str) -> str | None:
            index = columns.get(name)
            if index is None or index >= len(cells):
                return None
            value = cells[index].strip()
            return value or None

        missing = [name for name in REQUIRED if cell(name) is None]
        if missing:
            self.fail(line, f"Missing value for {', '.join(missing)}.")
            return None
        raw_quantity = cell("QTY") or ""
        try:
            quantity = Decimal(raw_quantity)
        except InvalidOperation:
            self.fail(line, f"QTY {raw_quantity!r} is not a number.")
            return None
        start = _parse_date(cell("STARTDATE") or "")
        if start is None:
            self.fail(line, f"STARTDATE {cell('STARTDATE')!r} is not a date (MM/DD/YYYY).")
            return None
        end_text = cell("ENDDATE")
        end = _parse_date(end_text) if end_text else None
        if end_text and end is None:
            self.fail(line, f"ENDDATE {end_text!r} is not a date (MM/DD/YYYY).")
            return None
        if end is not None and end < start:
            self.fail(line, "ENDDATE is before STARTDATE.")
            return None
        description = cell("DESCRIPTION")
        if description is not None and len(description) > 200:
            self.fail(line, "DESCRIPTION is longer than 200 characters.")
            return None
        return _Row(
            line,
            cell("ACCOUNT_ID") or "",
            cell("UOM") or "",
            quantity,
            start,
            end,
            cell("SUBSCRIPTION_ID"),
            cell("CHARGE_ID"),
            description,
        )

    def load(self, rows: list[_Row]) -> None:
        session, tenant_id = self.ctx.session, self.ctx.tenant_id
        unknown = sorted({r.account for r in rows if r.account not in self.accounts})
        if unknown:
            found = repo.accounts_by_number(session, tenant_id, unknown)
            for number in unknown:
                self.accounts[number] = found.get(number)
            new_ids = [found[n] for n in unknown if n in found]
            repo.lock_accounts(session, tenant_id, new_ids)
            self.charges.update(repo.usage_charges(session, tenant_id, new_ids))
        out: list[tuple[Any, ...]] = []
        for row in rows:
            account_id = self.accounts.get(row.account)
            if account_id is None:
                self.fail(row.line, f"Account {row.account} does not exist.")
                continue
            uom = validation.find_uom(self.uoms, row.uom)
            if isinstance(uom, str):
                self.fail(row.line, uom)
                continue
            problem = validation.check_quantity(row.quantity, uom)
            if problem is not None:
                self.fail(row.line, problem)
                continue
            picked = validation.pick_charge(
                self.charges.get(account_id, []),
                account=row.account,
                subscription_number=row.subscription,
                charge_number=row.charge,
                uom=uom,
                usage_date=row.start,
            )
            if isinstance(picked, str):
                self.fail(row.line, picked)
                continue
            if self.outcome.errors:
                continue  # the file fails as a whole: keep validating, stop writing
            start = datetime(row.start.year, row.start.month, row.start.day, tzinfo=UTC)
            end = (
                None
                if row.end is None
                else datetime(row.end.year, row.end.month, row.end.day, tzinfo=UTC)
            )
            out.append(
                (
                    tenant_id,
                    account_id,
                    picked.subscription_id,
                    picked.id,
                    uom.name,
                    row.quantity,
                    start,
                    end,
                    row.start,
                    row.description,
                    UsageSource.IMPORT.value,
                    self.job_id,
                    self.now,
                    self.now,
                )
            )
        if out and not self.outcome.errors:
            repo.insert_records(session, out)
            self.outcome.loaded += len(out)

    def run(self, lines: Iterable[str]) -> None:
        reader = csv.reader(lines)
        header = next(reader, None)
        if header is None:
            self.fail(1, "The file is empty.")
            return
        columns = {name.strip().upper(): i for i, name in enumerate(header)}
        absent = [name for name in REQUIRED if name not in columns]
        if absent:
            self.fail(1, f"The header lacks the column(s) {', '.join(absent)}.")
            return
        batch: list[_Row] = []
        for cells in reader:
            line = reader.line_num
            if not any(c.strip() for c in cells):
                continue
            self.outcome.total += 1
            row = self.parse(line, cells, columns)
            if row is not None:
                batch.append(row)
            if len(batch) >= BATCH_ROWS:
                self.load(batch)
                batch = []
        if batch:
            self.load(batch)


class _Rejected(Exception):
    """The file has bad rows: roll its rows back."""


def begin_import(ctx: ServiceContext, import_id: int) -> bool:
    """Pending -> Processing (under the import's row lock); False if it is not Pending."""
    job = repo.get_import(ctx.session, ctx.tenant_id, import_id, lock=True)
    if job is None or job.status != ImportStatus.PENDING:
        return False
    job.status = ImportStatus.PROCESSING.value
    job.updated_at = ctx.clock.now()
    ctx.session.flush()
    return True


def process_import(ctx: ServiceContext, import_id: int) -> UsageImport | None:
    """Load a Processing import: Completed with every row, or Failed with none."""
    session = ctx.session
    job = repo.get_import(session, ctx.tenant_id, import_id, lock=True)
    if job is None or job.status != ImportStatus.PROCESSING:
        return job
    loader = _Loader(ctx, job.id)
    try:
        # A savepoint around the rows: leaving it by _Rejected undoes every row written.
        with session.begin_nested():
            try:
                loader.run(_lines(repo.parts(session, ctx.tenant_id, job.id)))
            except UnicodeDecodeError:
                loader.fail(0, "The file is not UTF-8 text.")
            except csv.Error as exc:
                loader.fail(0, f"The file is not valid CSV: {exc}.")
            if loader.outcome.errors:
                raise _Rejected
    except _Rejected:
        pass
    outcome = loader.outcome
    job.total_records = outcome.total
    job.error_count = outcome.errors
    if outcome.errors:
        job.status = ImportStatus.FAILED.value
        job.loaded_records = 0
        job.errors = json.dumps(loader.errors)
    else:
        job.status = ImportStatus.COMPLETED.value
        job.loaded_records = outcome.loaded
    now = ctx.clock.now()
    job.updated_at = now
    job.completed_at = now
    repo.drop_parts(session, ctx.tenant_id, job.id)
    session.flush()
    return job
