"""Who may act where: OAuth clients granted several entities (tenants), organizations
inside a tenant, and the organizations a client is granted."""

# Every limited call's reads keep to its organizations (registers a session event).
from billcycle.access import scope as scope
