"""Console users: people who sign in to the operator's console at ``/``, each granted one
role (viewer, operator, admin) in one or more tenants. Passwords are argon2 hashes."""
