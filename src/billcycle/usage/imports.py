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

Recovery: the upload also plans the import as one work chunk (kind ``usage_import``)
of the job layer. The load runs as that chunk, in the chunk's transaction (rows, final
status and the chunk marked done commit together), so a worker that dies mid-import
leaves nothing loaded and the chunk claimed; when its lease runs out the reaper
dispatches a drain and another worker loads the file, once.
"""

from __future__ import annotations

import codecs
import csv
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from billcycle.context import ServiceContext
from billcycle.errors import InvalidValue, NotFound
from billcycle.events import service as events
from billcycle.events.statuses import EventType
from billcycle.jobs import chunks
from billcycle.usage import repository as repo
from billcycle.usage import validation
from billcycle.usage.models import USAGE_IMPORT, UnitOfMeasure, UsageImport
from billcycle.usage.statuses import ImportStatus, UsageSource

PART_BYTES = 1024 * 1024
BATCH_ROWS = 20_000
ERRORS_KEPT = 100
PICKED_MAX = 50_000  # memoised (account, charge, unit, date) checks kept at once
FILE_NAME_MAX = 255
IMPORT_CHUNK = "usage_import"  # the work_chunks kind of a file's load
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
    chunks.plan(
        ctx.session,
        tenant_id=ctx.tenant_id,
        kind=IMPORT_CHUNK,
        parent_id=job.id,
        ranges=[chunks.ChunkRange(job.id, job.id, 1)],
        now=ctx.machine_clock.now(),
    )
    events.emit_status_change(ctx, EventType.USAGE_IMPORT_STATUS_CHANGED, job, None)
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
    try:
        if "/" in value:
            month, day, year = value.split(" ", 1)[0].split("/")
            return date(int(year), int(month), int(day))
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class _Unit:
    """A unit of measure as the loop reads it (plain attributes, not the ORM row's)."""

    name: str
    decimal_places: int
    row: UnitOfMeasure


@dataclass(slots=True)
class _Outcome:
    total: int = 0
    loaded: int = 0
    errors: int = 0


# A parsed row: (line, account, uom, quantity, start, end, subscription, charge, description),
# the texts as written (stripped), nothing resolved yet.
_Raw = tuple[int, str, str, str, str, str, str, str, str]


class _Loader:
    """Validates and writes a file's rows in batches.

    A file repeats its values (a few accounts, dates, quantities and units for millions
    of rows), so every check is memoised by the values it reads: the account lookups per
    batch, the candidate charges per (account, subscription, charge, unit), the date and
    the quantity per text. The per-row work is a handful of dict lookups.
    """

    def __init__(
        self, ctx: ServiceContext, job_id: int, keep_lease: Callable[[], None] | None = None
    ) -> None:
        self.ctx = ctx
        self.keep_lease = keep_lease
        self.uoms = repo.uoms_by_name(ctx.session, ctx.tenant_id)
        self.units: dict[str, _Unit] = {}
        self.accounts: dict[str, int | None] = {}
        self.charges: dict[int, list[repo.UsageCharge]] = {}
        self.candidates: dict[tuple[int, str, str, str], list[repo.UsageCharge] | str] = {}
        self.picked: dict[tuple[int, str, str, str, date], repo.UsageCharge | str] = {}
        self.dates: dict[str, date | None] = {}
        self.quantities: dict[tuple[str, str], tuple[str, str | None]] = {}
        self.errors: list[dict[str, Any]] = []
        self.outcome = _Outcome()
        self.batch = repo.RecordBatch(
            ctx.session, ctx.tenant_id, job_id, ctx.clock.now(), UsageSource.IMPORT.value
        )

    def fail(self, line: int, reason: str) -> None:
        self.outcome.errors += 1
        if len(self.errors) < ERRORS_KEPT:
            self.errors.append({"row": line, "reason": reason})

    def _uom(self, text: str) -> _Unit | None:
        found = self.units.get(text)
        if found is None:
            uom = self.uoms.get(text.lower())
            if uom is None:
                return None
            found = self.units[text] = _Unit(uom.name, uom.decimal_places, uom)
        return found

    def _date(self, text: str) -> date | None:
        if text in self.dates:
            return self.dates[text]
        parsed = self.dates[text] = _parse_date(text)
        return parsed

    def _quantity(self, text: str, uom: _Unit) -> tuple[str, str | None]:
        """(stored text, error) of a quantity in ``uom``."""
        key = (text, uom.name)
        found = self.quantities.get(key)
        if found is None:
            try:
                value = Decimal(text)
            except InvalidOperation:
                found = ("", f"QTY {text!r} is not a number.")
            else:
                problem = validation.check_quantity(value, uom.row)
                found = ("", problem) if problem else (format(value.normalize(), "f"), None)
            self.quantities[key] = found
        return found

    def _charge(self, account_id: int, row: _Raw, uom: _Unit, day: date) -> repo.UsageCharge | str:
        key = (account_id, row[6], row[7], uom.name, day)
        found = self.picked.get(key)
        if found is not None:
            return found
        ckey = (account_id, row[6], row[7], uom.name)
        candidates = self.candidates.get(ckey)
        if candidates is None:
            candidates = self.candidates[ckey] = validation.charge_candidates(
                self.charges.get(account_id, []),
                account=row[1],
                subscription_number=row[6] or None,
                charge_number=row[7] or None,
                uom=uom.row,
            )
        if isinstance(candidates, str):
            found = candidates
        else:
            found = validation.pick_active(candidates, account=row[1], uom=uom.row, usage_date=day)
        if len(self.picked) >= PICKED_MAX:
            self.picked.clear()  # bounded memory: a miss only costs a re-check
        self.picked[key] = found
        return found

    def load(self, rows: list[_Raw]) -> None:
        session, tenant_id = self.ctx.session, self.ctx.tenant_id
        if self.keep_lease is not None:
            self.keep_lease()
        accounts = self.accounts
        unknown = sorted({r[1] for r in rows if r[1] not in accounts})
        if unknown:
            found = repo.accounts_by_number(session, tenant_id, unknown)
            for number in unknown:
                accounts[number] = found.get(number)
            new_ids = [found[n] for n in unknown if n in found]
            repo.lock_accounts(session, tenant_id, new_ids)
            self.charges.update(repo.usage_charges(session, tenant_id, new_ids))
        uom_of = self._uom
        quantity_of = self._quantity
        date_of = self._date
        charge_of = self._charge
        add = self.batch.add
        outcome = self.outcome
        for row in rows:
            line, account, uom_text, quantity_text, start_text, end_text = row[:6]
            if not (account and uom_text and quantity_text and start_text):
                missing = [
                    name
                    for name, value in zip(
                        REQUIRED, (account, uom_text, quantity_text, start_text), strict=True
                    )
                    if not value
                ]
                self.fail(line, f"Missing value for {', '.join(missing)}.")
                continue
            account_id = accounts.get(account)
            if account_id is None:
                self.fail(line, f"Account {account} does not exist.")
                continue
            uom = uom_of(uom_text)
            if uom is None:
                self.fail(line, f"Unit of measure {uom_text!r} is not defined for this tenant.")
                continue
            quantity, problem = quantity_of(quantity_text, uom)
            if problem is not None:
                self.fail(line, problem)
                continue
            start = date_of(start_text)
            if start is None:
                self.fail(line, f"STARTDATE {start_text!r} is not a date (MM/DD/YYYY).")
                continue
            end: date | None = None
            if end_text:
                end = date_of(end_text)
                if end is None:
                    self.fail(line, f"ENDDATE {end_text!r} is not a date (MM/DD/YYYY).")
                    continue
                if end < start:
                    self.fail(line, "ENDDATE is before STARTDATE.")
                    continue
            description = row[8]
            if len(description) > 200:
                self.fail(line, "DESCRIPTION is longer than 200 characters.")
                continue
            picked = charge_of(account_id, row, uom, start)
            if isinstance(picked, str):
                self.fail(line, picked)
                continue
            if outcome.errors:
                continue  # the file fails as a whole: keep validating, stop writing
            add(
                account_id,
                picked.subscription_id,
                picked.id,
                uom.name,
                quantity,
                start,
                end,
                description or None,
                start < picked.effective_start_date
                or (picked.billed_through is not None and start < picked.billed_through),
            )
        if self.outcome.errors:
            self.batch.rows = []
        else:
            self.batch.flush()
            self.outcome.loaded = self.batch.count

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
        positions = [columns.get(name, -1) for name in KNOWN]
        width = max(positions) + 1
        batch: list[_Raw] = []
        total = 0
        for cells in reader:
            if len(cells) < width:
                if not any(c.strip() for c in cells):
                    continue
                cells = cells + [""] * (width - len(cells))
            values = [cells[i].strip() if i >= 0 else "" for i in positions]
            if not any(values):
                continue
            total += 1
            batch.append((reader.line_num, *values))  # type: ignore[arg-type]
            if len(batch) >= BATCH_ROWS:
                self.load(batch)
                batch = []
        if batch:
            self.load(batch)
        self.outcome.total = total


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
    events.emit_status_change(
        ctx, EventType.USAGE_IMPORT_STATUS_CHANGED, job, ImportStatus.PENDING.value
    )
    return True


_OPEN = (ImportStatus.PENDING, ImportStatus.PROCESSING)


def process_import(
    ctx: ServiceContext, import_id: int, keep_lease: Callable[[], None] | None = None
) -> UsageImport | None:
    """Load a Pending or Processing import: Completed with every row, or Failed with
    none. A finished import is left as it is (a second delivery loads nothing).

    ``keep_lease`` is called before each batch: the recovering worker's chunk lease is
    renewed, or the call raises and the load is rolled back.
    """
    session = ctx.session
    job = repo.get_import(session, ctx.tenant_id, import_id, lock=True)
    if job is None or job.status not in _OPEN:
        return job
    previous = job.status
    loader = _Loader(ctx, job.id, keep_lease)
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
    events.emit_status_change(ctx, EventType.USAGE_IMPORT_STATUS_CHANGED, job, previous)
    return job


def fail_import(ctx: ServiceContext, import_id: int, reason: str) -> None:
    """The load failed every attempt (an internal error, not a bad row): Failed, with
    nothing loaded, so a client polling stops waiting."""
    job = repo.get_import(ctx.session, ctx.tenant_id, import_id, lock=True)
    if job is None or job.status not in _OPEN:
        return
    previous = job.status
    now = ctx.clock.now()
    job.status = ImportStatus.FAILED.value
    job.loaded_records = 0
    job.error_count = 1
    job.errors = json.dumps([{"row": 0, "reason": reason}])
    job.updated_at = now
    job.completed_at = now
    repo.drop_parts(ctx.session, ctx.tenant_id, job.id)
    ctx.session.flush()
    events.emit_status_change(ctx, EventType.USAGE_IMPORT_STATUS_CHANGED, job, previous)
