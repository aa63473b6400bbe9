"""``GET /fusebill/v1/customers/{id}/invoices``: paging headers, sorting, ``query``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from sqlalchemy import event

from billcycle.runtime import Runtime
from tests.fusebill.helpers import Customer, assert_error, fget
from tests.subscriptions.factories import setup
from tests.support.api import Api


def listing(api: Api, customer: Customer, **params: Any) -> httpx.Response:
    return fget(api, f"/v1/customers/{customer.id}/invoices", **params)


def ids(response: httpx.Response) -> list[int]:
    assert response.status_code == 200, response.text
    return [invoice["id"] for invoice in response.json()]


def paging(response: httpx.Response) -> dict[str, str]:
    names = [
        "X-Count",
        "X-MaxCount",
        "X-CurrentPage",
        "X-PageSize",
        "X-MaxPageIndex",
        "X-NextPage",
        "X-PreviousPage",
        "X-SortOrder",
        "X-SortExpression",
    ]
    return {name: response.headers[name] for name in names}


def test_default_lists_posted_invoices_newest_posted_first(api: Api, customer: Customer) -> None:
    response = listing(api, customer)
    assert ids(response) == list(reversed(customer.posted))  # the draft is not listed
    assert paging(response) == {
        "X-Count": "4",
        "X-MaxCount": "4",
        "X-CurrentPage": "0",
        "X-PageSize": "20",
        "X-MaxPageIndex": "0",
        "X-NextPage": "-1",
        "X-PreviousPage": "-1",
        "X-SortOrder": "Descending",
        "X-SortExpression": "postedTimestamp",
    }
    first = response.json()[0]
    assert first == fget(api, f"/v1/invoices/{first['id']}").json()


def test_pages(api: Api, customer: Customer) -> None:
    ascending = {"sortOrder": "Ascending", "sortExpression": "id", "pageSize": 3}
    first = listing(api, customer, pageNumber=0, **ascending)
    assert ids(first) == customer.posted[:3]
    assert paging(first) == {
        "X-Count": "3",
        "X-MaxCount": "4",
        "X-CurrentPage": "0",
        "X-PageSize": "3",
        "X-MaxPageIndex": "1",
        "X-NextPage": "1",
        "X-PreviousPage": "-1",
        "X-SortOrder": "Ascending",
        "X-SortExpression": "id",
    }
    second = listing(api, customer, pageNumber=1, **ascending)
    assert ids(second) == customer.posted[3:]
    assert (second.headers["X-Count"], second.headers["X-NextPage"]) == ("1", "-1")
    assert second.headers["X-PreviousPage"] == "0"
    beyond = listing(api, customer, pageNumber=7, **ascending)
    assert ids(beyond) == []
    assert (beyond.headers["X-Count"], beyond.headers["X-MaxCount"]) == ("0", "4")


BAD_PARAMS: list[tuple[dict[str, Any], str]] = [
    ({"pageSize": 0}, "pageSize"),
    ({"pageSize": 101}, "pageSize"),
    ({"pageNumber": -1}, "pageNumber"),
    ({"pageNumber": "x"}, "pageNumber"),
    ({"sortOrder": "Up"}, "sortOrder"),
    ({"sortExpression": "colour"}, "Invalid sortExpression 'colour'. Sortable fields: "),
    ({"query": "x" * 2001}, "Invalid query: longer than 2000 characters."),
]


def test_bad_paging_and_sorting(api: Api, runtime: Runtime) -> None:
    data = setup(runtime, api.tenant.tenant_id)
    for params, message in BAD_PARAMS:
        response = fget(api, f"/v1/customers/{data.account_id}/invoices", **params)
        assert_error(response, 400, message)


SORTS: list[tuple[str, list[str]]] = [
    ("invoiceNumber", ["overdue", "paid", "partial", "unpaid"]),
    ("INVOICENUMBER", ["overdue", "paid", "partial", "unpaid"]),
    ("id", ["overdue", "paid", "partial", "unpaid"]),
    ("effectiveTimestamp", ["overdue", "paid", "partial", "unpaid"]),
    ("dueDate", ["overdue", "paid", "partial", "unpaid"]),
    ("postedTimestamp", ["overdue", "paid", "partial", "unpaid"]),
    ("modifiedTimestamp", ["overdue", "paid", "partial", "unpaid"]),
    # ties (30.00 three times) are broken by id, in the same direction
    ("invoiceAmount", ["paid", "partial", "unpaid", "overdue"]),
    ("outstandingBalance", ["paid", "partial", "unpaid", "overdue"]),
    ("status", ["overdue", "paid", "partial", "unpaid"]),
]


def test_sorting(api: Api, customer: Customer) -> None:
    for expression, order in SORTS:
        expected = [getattr(customer, name) for name in order]
        up = listing(api, customer, sortExpression=expression, sortOrder="Ascending")
        assert ids(up) == expected, expression
        down = listing(api, customer, sortExpression=expression, sortOrder="Descending")
        assert ids(down) == list(reversed(expected)), expression


def test_sort_expression_header_is_canonical(api: Api, customer: Customer) -> None:
    response = listing(api, customer, sortExpression="OUTSTANDINGBALANCE")
    assert response.headers["X-SortExpression"] == "outstandingBalance"


FILTERS: list[tuple[str, list[str]]] = [
    # exact, enum values in any case
    ("status:Overdue", ["overdue"]),
    ("STATUS:partiallypaid", ["partial"]),
    # sets
    ("status:Paid,Unpaid", ["paid", "unpaid"]),
    # wildcards (text and enum fields), case-insensitive
    ("status:*paid", ["paid", "partial", "unpaid"]),
    ("status:Partially*", ["partial"]),
    ("status:*r*d*", ["overdue", "partial"]),
    ("currency:us*", ["overdue", "paid", "partial", "unpaid"]),
    ("currency:usd", ["overdue", "paid", "partial", "unpaid"]),
    ("currency:EUR", []),
    ("currency:U_D", []),  # _ is not a wildcard
    # [empty]
    ("currency:[empty]", []),
    ("status:[empty],Paid", ["paid"]),
    # date ranges: lower bound inclusive, upper exclusive
    ("dueDate:2025-12-31|2026-01-31", ["paid"]),
    ("dueDate:2025-12-31|2026-02-01", ["paid", "partial"]),
    ("dueDate:|2026-01-01", ["overdue", "paid"]),
    ("dueDate:2026-01-31|", ["partial", "unpaid"]),
    ("dueDate:2026-01-30T12:00:00|", ["partial", "unpaid"]),
    ("dueDate:2026-01-31", ["partial"]),
    ("dueDate:2026-01-31T00:00:00", ["partial"]),
    ("dueDate:2026-01-31T00:00:01", []),
    ("dueDate:2025-12-01,2026-03-03", ["overdue", "unpaid"]),
    ("effectiveTimestamp:2025-11-01|2025-12-01", ["overdue"]),
    # timestamps: an exact value covers its written precision
    ("postedTimestamp:2026-01-10", ["overdue", "paid", "partial", "unpaid"]),
    ("postedTimestamp:2026-01-10T09:01", ["paid"]),
    ("postedTimestamp:2026-01-10T09:01:00", ["paid"]),
    ("postedTimestamp:2026-01-10T09:01:00.000", ["paid"]),
    ("postedTimestamp:2026-01-10T09:01:00|2026-01-10T09:03:00", ["paid", "partial"]),
    ("postedTimestamp:|2026-01-10T09:00:00", []),
    ("modifiedTimestamp:2026-01-10T09:03:00|", ["unpaid"]),
    # numbers: both bounds inclusive
    ("outstandingBalance:20|30", ["partial", "unpaid"]),
    ("outstandingBalance:0", ["paid"]),
    ("outstandingBalance:0.00", ["paid"]),
    ("outstandingBalance:20.001", []),
    ("outstandingBalance:19.995|20.005", ["partial"]),
    ("outstandingBalance:|0", ["paid"]),
    ("outstandingBalance:30.01|", ["overdue"]),
    ("invoiceAmount:60", ["overdue"]),
    ("invoiceAmount:30,60", ["overdue", "paid", "partial", "unpaid"]),
    # combined terms are ANDed
    ("status:Unpaid,Overdue;invoiceAmount:|30", ["unpaid"]),
    ("status:Unpaid,Overdue; invoiceAmount:|30 ;", ["unpaid"]),
]


def test_query(api: Api, customer: Customer) -> None:
    """Every operator, on one customer (each case is one request)."""
    for query, expected in FILTERS:
        response = listing(api, customer, query=query, sortExpression="id", sortOrder="Ascending")
        wanted = [getattr(customer, name) for name in expected]
        assert ids(response) == wanted, query
        assert response.headers["X-MaxCount"] == str(len(expected)), query


def test_query_on_invoice_numbers_and_ids(api: Api, customer: Customer) -> None:
    n = customer.numbers
    first, second, third = n[customer.overdue], n[customer.paid], n[customer.partial]
    order = {"sortExpression": "id", "sortOrder": "Ascending"}
    assert ids(listing(api, customer, query=f"invoiceNumber:{second}", **order)) == [customer.paid]
    assert ids(listing(api, customer, query=f"invoiceNumber:{first}|{second}", **order)) == [
        customer.overdue,
        customer.paid,
    ]
    assert ids(listing(api, customer, query=f"invoiceNumber:{first},{third}", **order)) == [
        customer.overdue,
        customer.partial,
    ]
    # the draft's number exists, but the draft is not listed
    assert ids(listing(api, customer, query=f"invoiceNumber:{n[customer.draft]}")) == []
    assert ids(listing(api, customer, query=f"id:{customer.unpaid}")) == [customer.unpaid]


MALFORMED: list[tuple[str, str]] = [
    ("status", "Invalid query term 'status': use field:value."),
    (":Paid", "Invalid query term ':Paid': use field:value."),
    ("colour:red", "Invalid query: cannot filter on 'colour'. Filterable fields: id, "),
    ("status:", "Invalid query for status: a value is missing."),
    ("status:Paid,", "Invalid query for status: a value is missing."),
    ("status:Foo", "'Foo' is not one of Paid, PartiallyPaid, Unpaid, Overdue, WrittenOff."),
    ("status:a|b", "ranges (lo|hi) apply to dates, timestamps and numbers, and status is a list"),
    ("currency:A|B", "ranges (lo|hi) apply to dates, timestamps and numbers"),
    ("dueDate:2026*", "wildcards (*) apply to text fields, and dueDate is a date."),
    ("invoiceAmount:3*", "wildcards (*) apply to text fields, and invoiceAmount is a number."),
    ("dueDate:2026-13-01", "'2026-13-01' is not a valid date"),
    ("dueDate:tomorrow", "'tomorrow' is not a date (YYYY-MM-DD)"),
    ("dueDate:2026-01-01+02:00", "is not a date"),
    ("dueDate:|", "a range needs at least one bound"),
    ("dueDate:1|2|3", "has more than one '|'"),
    ("invoiceAmount:abc", "'abc' is not a number"),
    ("invoiceAmount:1e3", "'1e3' is not a number"),
    ("invoiceNumber:-1", "'-1' is not a positive integer"),
    ("invoiceNumber:1.5", "'1.5' is not a positive integer"),
    ("id:99999999999999999999", "is not a positive integer"),
    (";".join(["status:Paid"] * 21), "at most 20 field:value terms"),
    ("status:" + ",".join(["Paid"] * 101), "at most 100 values in a set"),
]


def test_malformed_queries_are_400(api: Api, runtime: Runtime) -> None:
    data = setup(runtime, api.tenant.tenant_id)
    for query, message in MALFORMED:
        response = fget(api, f"/v1/customers/{data.account_id}/invoices", query=query)
        assert_error(response, 400, message)


def test_bad_customer_ids(api: Api) -> None:
    assert_error(fget(api, "/v1/customers/x/invoices"), 400, "ids are integers")
    assert_error(fget(api, "/v1/customers/424242/invoices"), 404, "Customer 424242 not found.")


@contextmanager
def counting(runtime: Runtime) -> Iterator[list[str]]:
    statements: list[str] = []

    def record(*args: Any) -> None:
        statements.append(args[2])

    event.listen(runtime.engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(runtime.engine, "before_cursor_execute", record)


def test_one_statement_per_page_whatever_its_size(
    api: Api, runtime: Runtime, customer: Customer
) -> None:
    def invoice_reads(page_size: int) -> int:
        with counting(runtime) as statements:
            assert len(ids(listing(api, customer, pageSize=page_size))) == page_size
        return sum("FROM invoices" in statement for statement in statements)

    assert invoice_reads(1) == invoice_reads(4) == 1
