from fastapi.testclient import TestClient
from tests.security.helpers import seed_tenant, route_table
import re

def test_probe(app, tenant, runtime):
    c = TestClient(app, raise_server_exceptions=False)
    seeded = seed_tenant(runtime, c, tenant)
    from tests.support.api import api_for
    api = api_for(c, tenant)
    zh = api.zuora_headers; fh = api.fusebill_headers
    for r in route_table(app):
        if r.method != "GET" or not r.include_in_schema or r.path.startswith("/billcycle"): continue
        z = r.path.startswith("/zuora")
        vals = seeded.zuora_path_values() if z else seeded.fusebill_path_values()
        vals["id"] = "X"
        h = zh if z else fh
        path = re.sub(r"\{(\w+)\}", lambda m: vals.get(m.group(1), "MISSING"+m.group(1)), r.path)
        if "MISSING" in path: print("missing", path)
        for q in ("page=9223372036854775807", "pageNumber=9223372036854775807", "pageNumber=92233720368547758&pageSize=100", "page=99999999999999999999999", "query=effectiveTimestamp:9999-12-31", "query=postedTimestamp:9999-12-31", "query=dueDate:9999-12-31", "query=dueDate:0001-01-01","query=dueDate:9999-12-31|", "query=invoiceAmount:1e999999999", "pageSize=%EF%BC%98", "pageSize=%00"):
            resp = c.get(path + "?" + q, headers=h)
            if resp.status_code >= 500:
                print("500", path, q, resp.text[:200])
    for bad in ("%EF%BC%98", "%ED%A0%80", "1e999999999"):
        print(c.get(f"/fusebill/v1/invoices/{bad}", headers=fh).status_code, c.get(f"/zuora/v1/accounts/{bad}", headers=zh).status_code)
