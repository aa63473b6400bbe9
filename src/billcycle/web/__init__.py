"""The ASGI application: both dialects mounted on one server, plus shared middleware."""
