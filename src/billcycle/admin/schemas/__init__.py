"""Wire shapes of the admin API: snake_case JSON, integer ids, RFC 3339 instants."""
