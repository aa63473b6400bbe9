"""Who may act where: OAuth clients granted several entities (tenants), organizations
inside a tenant, and the organizations a client is granted."""
