"""The email tests run against a real SMTP server."""

from tests.support.smtp import smtp_server

__all__ = ["smtp_server"]
