"""Project rules checked on the source, so that no reviewer has to remember them.

Each test reads ``src/billcycle`` with :mod:`ast` and fails with ``path:line: what to
do``. ``docs/conventions.md`` says why each rule exists; the layer rules are
import-linter contracts (``.importlinter``). polar's ``server/scripts/linters`` is the
model: a rule is a small AST check, and a known exception is written down next to it
with its reason. An allow-list entry that no longer matches anything is reported as a
warning, so the lists only shrink.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from billcycle.jobs.dispatch import ManualDispatcher, TaskCall
from billcycle.runtime import Runtime
from billcycle.tenancy.service import NewTenant

SRC = Path(__file__).resolve().parents[1] / "src" / "billcycle"

# Packages that face the wire (they may speak a dialect's words and ids) or drive the
# system from outside (tools): everything else is the domain and what it runs on.
DIALECTS = ("zuora", "fusebill", "admin")
EDGE = (*DIALECTS, "web", "cli", "bench", "devtools", "migrations")
# Tools that build their own SQL on purpose (benchmark floors, the data-set loader),
# storage itself (it knows no tenant), and Alembic revisions.
SQL_TOOLS = ("bench", "devtools", "db", "migrations")

# The docstring marker of a repository function that does not filter on tenant_id
# itself: "Tenant: <why the caller already did, or why the query spans tenants>".
TENANT_MARKER = re.compile(r"^\s*Tenant: \S", re.MULTILINE)


# -- reading the source ----------------------------------------------------------------


@dataclass
class Module:
    path: Path
    rel: str  # "billruns/service.py"
    tree: ast.Module

    @property
    def package(self) -> str:
        return self.rel.split("/", 1)[0] if "/" in self.rel else ""


@cache
def modules() -> tuple[Module, ...]:
    found = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        if rel.startswith("migrations/versions/"):
            continue
        found.append(Module(path, rel, ast.parse(path.read_text(), filename=str(path))))
    return tuple(found)


def _report(what: str, violations: list[str]) -> None:
    assert not violations, f"{what}:\n" + "\n".join(sorted(violations))


def _stale(allowed: Iterable[str], used: set[str], what: str) -> None:
    """An allow-list entry nothing needs any more fails, so the lists only shrink."""
    stale = sorted(set(allowed) - used)
    assert not stale, f"{what}: no longer needed, remove {stale}"


def _docstring_node(node: ast.AST) -> ast.AST | None:
    body = getattr(node, "body", None)
    if (
        isinstance(body, list)
        and body
        and isinstance(body[0], ast.Expr)
        and isinstance(body[0].value, ast.Constant)
        and isinstance(body[0].value.value, str)
    ):
        return body[0]
    return None


def _walk_code(node: ast.AST) -> Iterator[ast.AST]:
    """The nodes of ``node``'s code: no docstrings (its own or nested ones), no type
    annotations."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        skip = _docstring_node(current)
        for name, value in ast.iter_fields(current):
            if name in ("annotation", "returns"):
                continue
            children = value if isinstance(value, list) else [value]
            stack.extend(c for c in children if isinstance(c, ast.AST) and c is not skip)


def _strings(node: ast.AST) -> Iterator[str]:
    for child in _walk_code(node):
        if isinstance(child, ast.Constant) and isinstance(child.value, str):
            yield child.value


# -- what is SQL, what is tenant-scoped ------------------------------------------------

STATEMENTS = frozenset({"select", "insert", "update", "delete", "exists", "text", "union"})
RAW_SQL = re.compile(r"^\s*(SELECT|INSERT|UPDATE|DELETE|COPY|WITH)\s")


@dataclass(frozen=True)
class Schema:
    scoped_classes: frozenset[str]  # mapped classes of tenant-scoped tables
    scoped_tables: frozenset[str]
    classes: frozenset[str]  # every mapped class


@cache
def schema() -> Schema:
    """Tenant-scoped tables: those with a ``tenant_id`` column, and those that hang off
    one by a foreign key (a bill run's totals are the run's tenant's). Tenants,
    installation secrets and operator keys are above tenants."""
    import billcycle.db.models  # noqa: F401  (completes Base.metadata)
    from billcycle.db.base import Base

    tables = list(Base.metadata.tables.values())
    scoped = {t.name for t in tables if "tenant_id" in t.c}
    grew = True
    while grew:
        grew = False
        for table in tables:
            if table.name not in scoped and any(
                fk.column.table.name in scoped for fk in table.foreign_keys
            ):
                scoped.add(table.name)
                grew = True
    mappers = list(Base.registry.mappers)
    return Schema(
        scoped_classes=frozenset(
            m.class_.__name__ for m in mappers if m.local_table.name in scoped
        ),
        scoped_tables=frozenset(scoped),
        classes=frozenset(m.class_.__name__ for m in mappers),
    )


@dataclass
class SqlReader:
    """Finds the statements a module builds and what each function reaches through
    the module's own helpers and constants (``_RESERVE = update(...)`` at module level,
    ``_c = WorkChunk.__table__.c``, private ``_filters(...)``)."""

    module: Module
    statement_names: set[str] = field(default_factory=set)  # `select`, `pg_insert`, ...
    sql_modules: set[str] = field(default_factory=set)  # `sa`, `postgresql`, ...
    symbols: dict[str, ast.AST] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for node in self.module.tree.body:
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sqlalchemy"):
                for alias in node.names:
                    if alias.name in STATEMENTS:
                        self.statement_names.add(alias.asname or alias.name)
                    elif alias.name in ("postgresql", "sqlite"):
                        self.sql_modules.add(alias.asname or alias.name)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith("sqlalchemy"):
                        self.sql_modules.add(alias.asname or alias.name)
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                self.symbols[node.name] = node
            elif isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    if isinstance(target, ast.Name):
                        self.symbols[target.id] = node.value

    # A node's own facts, then the same facts through the module symbols it names.

    def _refs(self, node: ast.AST) -> set[str]:
        return {
            n.id
            for n in _walk_code(node)
            if isinstance(n, ast.Name) and n.id in self.symbols and self.symbols[n.id] is not node
        }

    def _closure(self, node: ast.AST) -> list[ast.AST]:
        seen: dict[int, ast.AST] = {id(node): node}
        todo = [node]
        while todo:
            for name in self._refs(todo.pop()):
                target = self.symbols[name]
                if id(target) not in seen:
                    seen[id(target)] = target
                    todo.append(target)
        return list(seen.values())

    def _names_scoped(self, node: ast.AST) -> bool:
        s = schema()
        for n in _walk_code(node):
            if (isinstance(n, ast.Name) and n.id in s.scoped_classes) or (
                isinstance(n, ast.Attribute) and n.attr in s.scoped_classes
            ):
                return True
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and RAW_SQL.match(n.value):
                words = set(re.findall(r"[a-z_]+", n.value))
                if words & s.scoped_tables:
                    return True
        return False

    def statements(self, node: ast.AST) -> Iterator[ast.AST]:
        """The statement-building nodes written in ``node`` itself."""
        s = schema()
        for n in _walk_code(node):
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and RAW_SQL.match(n.value):
                yield n
            if not isinstance(n, ast.Call):
                continue
            func = n.func
            if isinstance(func, ast.Name) and func.id in self.statement_names:
                yield n
            elif isinstance(func, ast.Attribute):
                if func.attr in STATEMENTS and (
                    (isinstance(func.value, ast.Name) and func.value.id in self.sql_modules)
                    or self._names_scoped(func.value)
                ):
                    yield n  # sa.select(...), postgresql.insert(...), Model.__table__.update()
                elif (
                    func.attr == "get"
                    and n.args
                    and isinstance(n.args[0], ast.Name)
                    and n.args[0].id in s.classes
                ):
                    yield n  # session.get(Model, id)

    def touches_scoped(self, node: ast.AST) -> bool:
        """Builds a statement (itself or through module helpers) and names a scoped table.

        Deliberately wide: a statement is often assembled in steps (``select(...)`` into
        a local, ``.select_from(Model)`` later), so the whole function counts."""
        parts = self._closure(node)
        return any(self._names_scoped(part) for part in parts) and any(
            True for part in parts for _ in self.statements(part)
        )

    def mentions_tenant(self, node: ast.AST) -> bool:
        for part in self._closure(node):
            for n in _walk_code(part):
                if (isinstance(n, ast.Name) and n.id == "tenant_id") or (
                    isinstance(n, ast.Attribute) and n.attr == "tenant_id"
                ):
                    return True
            if any("tenant_id" in text for text in _strings(part)):
                return True
        return False

    def holds_sql(self) -> bool:
        return any(True for _ in self.statements(self.module.tree))

    def public_functions(self) -> Iterator[ast.FunctionDef | ast.AsyncFunctionDef]:
        for node in self.module.tree.body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                if not node.name.startswith("_"):
                    yield node
            elif isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
                for item in node.body:
                    if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef) and not (
                        item.name.startswith("_")
                    ):
                        yield item


def _sql_modules() -> list[tuple[Module, SqlReader]]:
    found = []
    for module in modules():
        # models.py declares tables (an index predicate is SQL text, not a query).
        if module.package in SQL_TOOLS or module.rel.endswith("models.py"):
            continue
        reader = SqlReader(module)
        if reader.holds_sql():
            found.append((module, reader))
    return found


# -- all SQL in repositories -----------------------------------------------------------

REPOSITORY_NAMES = re.compile(r"(^|/)(repository|[a-z_]+_repository|listing)\.py$")

# Modules that build SQL without being named as a repository, and why.
SQL_OUTSIDE_REPOSITORIES = {
    "jobs/chunks.py": "the work-chunk store: jobs' repository (claims, leases, completion)",
    "tenancy/numbers.py": "number reservation: one UPDATE ... RETURNING, built once",
    "idempotency.py": "claims the Idempotency-Key record inside the request's own unit",
    "demo.py": "asks whether the demo data is already loaded (one count)",
    "billruns/service.py": "session.get of a filter's subscription (checked against tenant)",
}


def test_sql_lives_in_repositories() -> None:
    """Services hold no SQL: a module that builds statements is a repository
    (``repository.py``, ``*_repository.py``, ``listing.py``) or a named exception."""
    violations, used = [], set()
    for module, _ in _sql_modules():
        if REPOSITORY_NAMES.search(module.rel):
            continue
        if module.rel in SQL_OUTSIDE_REPOSITORIES:
            used.add(module.rel)
            continue
        violations.append(
            f"src/billcycle/{module.rel}: builds SQL; move it to the package's repository.py"
        )
    _report("SQL outside a repository", violations)
    _stale(SQL_OUTSIDE_REPOSITORIES, used, "SQL_OUTSIDE_REPOSITORIES")


# -- every query is scoped by its tenant -----------------------------------------------


def test_repository_functions_filter_on_tenant() -> None:
    """A public function that builds a statement on a tenant-scoped table either
    filters on ``tenant_id`` (itself or through the module helper it uses) or says in
    its docstring, as ``Tenant: <why>``, why its caller already did or why it spans
    tenants (the scheduler, global id sequences)."""
    violations = []
    checked = 0
    for module, reader in _sql_modules():
        for fn in reader.public_functions():
            if not reader.touches_scoped(fn):
                continue
            checked += 1
            if reader.mentions_tenant(fn):
                continue
            if TENANT_MARKER.search(ast.get_docstring(fn) or ""):
                continue
            violations.append(
                f"src/billcycle/{module.rel}:{fn.lineno}: {fn.name} queries a tenant-scoped "
                "table without tenant_id; filter on it or add 'Tenant: <why>' to its docstring"
            )
    assert checked > 50, "the check found almost no repository functions: is it still looking?"
    _report("Queries not scoped by tenant", violations)


# -- the domain speaks billcycle, not Zuora --------------------------------------------


def _zuora_helpers() -> set[str]:
    tree = ast.parse((SRC / "ids.py").read_text())
    return {
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef) and "zuora" in node.name.lower()
    }


# Domain modules still reading or writing Zuora's 32-hex ids, and why.
ZUORA_IDS_IN_DOMAIN = {
    "tenancy/service.py": "NewTenant.entity_id: the Zuora entity id shown at tenant creation",
    "access/labels.py": "organizationLabels keep the wire's organizationId text (bill-run and "
    "payment-run specs store it as sent); a run parses it when it selects accounts",
}


def test_domain_does_not_use_zuora_ids() -> None:
    """Ids are integers in the domain; only the Zuora dialect writes or reads them as 32
    hex digits (errors name ids as ``{placeholders}`` that the dialect renders)."""
    helpers = _zuora_helpers()
    assert helpers, "billcycle.ids has no Zuora helpers any more: update this test"
    violations, used = [], set()
    for module in modules():
        if module.package in EDGE or module.rel == "ids.py":
            continue
        for node in ast.walk(module.tree):
            named = set()
            if isinstance(node, ast.ImportFrom) and node.module == "billcycle.ids":
                named = {alias.name for alias in node.names} & helpers
            elif isinstance(node, ast.Attribute) and node.attr in helpers:
                named = {node.attr}
            if not named:
                continue
            if module.rel in ZUORA_IDS_IN_DOMAIN:
                used.add(module.rel)
                continue
            violations.append(
                f"src/billcycle/{module.rel}:{node.lineno}: uses {sorted(named)}; take and "
                "return integer ids and let the Zuora dialect write them"
            )
    _report("Zuora ids in the domain", violations)
    _stale(ZUORA_IDS_IN_DOMAIN, used, "ZUORA_IDS_IN_DOMAIN")


# -- one home for each set of words ----------------------------------------------------


@dataclass(frozen=True)
class Vocabulary:
    name: str
    rel: str
    members: dict[str, str]  # NAME -> "Value"


def _vocabularies() -> list[Vocabulary]:
    """Every StrEnum whose words are stored or shown (a value starting with a capital:
    ``"Posted"``, ``"IN_ADVANCE"``); internal lower-case kinds (``"not_found"``, column
    names) are words of the code, not of the product, and would only add noise."""
    found = []
    for module in modules():
        for node in ast.walk(module.tree):
            if not isinstance(node, ast.ClassDef):
                continue
            if not any(
                (isinstance(b, ast.Name) and b.id == "StrEnum")
                or (isinstance(b, ast.Attribute) and b.attr == "StrEnum")
                for b in node.bases
            ):
                continue
            members = {
                target.id: stmt.value.value
                for stmt in node.body
                if isinstance(stmt, ast.Assign)
                and isinstance(stmt.value, ast.Constant)
                and isinstance(stmt.value.value, str)
                for target in stmt.targets
                if isinstance(target, ast.Name)
            }
            if any(value[:1].isupper() for value in members.values()):
                found.append(Vocabulary(node.name, module.rel, members))
    return found


# Modules that still spell out words a StrEnum owns, and why.
WORDS_OUTSIDE_THEIR_ENUM = {
    "bench/bill_run.py": "the statuses a benchmark waits for",
}


def test_status_words_have_one_home() -> None:
    """A set of stored or shown words lives in one StrEnum and code names its members
    (``BillRunStatus.PENDING``): no tuple, list or set of two or more literals that are
    all one enum's values. (Single constants are not checked: one word such as
    ``"Active"`` or ``"Failed"`` belongs to several vocabularies.)"""
    vocabularies = _vocabularies()
    assert vocabularies, "no StrEnum found: is the check still looking?"
    violations, used = [], set()
    for module in modules():
        for node in ast.walk(module.tree):
            if not (isinstance(node, ast.Tuple | ast.List | ast.Set) and len(node.elts) >= 2):
                continue
            words = {e.value for e in node.elts if isinstance(e, ast.Constant)}
            if len(words) < 2 or not all(isinstance(w, str) for w in words):
                continue
            if len([e for e in node.elts if isinstance(e, ast.Constant)]) != len(node.elts):
                continue
            owners = [v for v in vocabularies if words <= set(v.members.values())]
            if not owners:
                continue
            if module.rel in WORDS_OUTSIDE_THEIR_ENUM:
                used.add(module.rel)
                continue
            named = " or ".join(f"{v.name} (src/billcycle/{v.rel})" for v in owners)
            violations.append(
                f"src/billcycle/{module.rel}:{node.lineno}: spells out {sorted(words)}; "
                f"use the members of {named}"
            )
    _report("Words repeated outside their StrEnum", violations)
    _stale(WORDS_OUTSIDE_THEIR_ENUM, used, "WORDS_OUTSIDE_THEIR_ENUM")


# -- transactions and time -------------------------------------------------------------


def test_only_the_unit_of_work_commits() -> None:
    """Services flush, they never commit or roll back: the request or job that opened
    the unit of work (``db/session.py``) decides. Tools on their own connections
    (benchmarks) are exempt."""
    violations = []
    for module in modules():
        if module.rel == "db/session.py" or module.package in ("bench", "devtools"):
            continue
        for node in ast.walk(module.tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("commit", "rollback")
            ):
                violations.append(
                    f"src/billcycle/{module.rel}:{node.lineno}: {node.func.attr}(); let the "
                    "unit of work (db/session.py) end the transaction"
                )
    _report("Transactions ended outside the unit of work", violations)


WALL_CLOCK = {
    ("datetime", "now"),
    ("datetime", "utcnow"),
    ("datetime", "today"),
    ("date", "today"),
    ("time", "time"),
    ("time", "time_ns"),
}


def test_only_the_clock_reads_the_wall_clock() -> None:
    """Business code takes ``today``/``now`` from the context's clock, machine code from
    the machine clock; only ``clock.py`` asks the operating system. ``time.monotonic``
    (durations, never a date) is free."""
    violations = []
    for module in modules():
        if module.rel == "clock.py" or module.package == "bench":
            continue
        for node in ast.walk(module.tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name)
                and (node.func.value.id, node.func.attr) in WALL_CLOCK
            ):
                violations.append(
                    f"src/billcycle/{module.rel}:{node.lineno}: reads the wall clock; "
                    "take the time from the context's clock"
                )
    _report("Wall-clock reads outside clock.py", violations)


# Not money: background-work and process settings count seconds (leases, heartbeats).
FLOAT_FREE_EXEMPT = ("jobs", "db", "clock.py", "config.py", "runtime.py")


def test_floats_stay_at_the_wire_edge() -> None:
    """Money is Decimal everywhere; a float appears only where a dialect writes a JSON
    number, in tools that print timings, and in machine settings counted in seconds."""
    violations = []
    for module in modules():
        if module.package in EDGE or (module.package or module.rel) in FLOAT_FREE_EXEMPT:
            continue
        for node in ast.walk(module.tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "float"
            ):
                violations.append(
                    f"src/billcycle/{module.rel}:{node.lineno}: float(); "
                    "keep amounts Decimal (billcycle.money)"
                )
    _report("Floats in the domain", violations)


def test_migration_revisions_import_no_application_code() -> None:
    """A revision is frozen in time: it describes tables with SQLAlchemy and Alembic
    alone (and billcycle's column types), never today's models or services, which
    change after it was written."""
    violations = []
    for path in sorted((SRC / "migrations" / "versions").glob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            for name in names:
                if name.startswith("billcycle") and name != "billcycle.db.types":
                    violations.append(f"{path.relative_to(SRC.parents[1])}:{node.lineno}: {name}")
    _report("Migrations importing application code", violations)


# -- enqueue after commit (behaviour, on both databases) -------------------------------


def test_enqueued_work_waits_for_the_commit(
    runtime: Runtime, jobs: ManualDispatcher, tenant: NewTenant
) -> None:
    """A worker must never see work whose transaction might still roll back: a task
    enqueued in a unit of work reaches the dispatcher after the commit, and never when
    the unit rolls back."""

    class Abort(Exception):
        pass

    try:
        with runtime.service_context(tenant.tenant_id) as ctx:
            ctx.enqueue("conventions.never", n=1)
            raise Abort
    except Abort:
        pass
    assert jobs.pending == []

    with runtime.service_context(tenant.tenant_id) as ctx:
        ctx.enqueue("conventions.after_commit", n=2)
        assert jobs.pending == [], "dispatched before the unit of work committed"
    assert jobs.pending == [TaskCall("conventions.after_commit", {"n": 2})]
