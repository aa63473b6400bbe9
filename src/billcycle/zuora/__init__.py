"""The Zuora v1 REST dialect: wire schemas, routes and Zuora's protocol conventions."""
