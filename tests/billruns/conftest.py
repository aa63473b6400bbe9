"""Bill-run tests use the real SMTP server fixture of the notification tests."""

from tests.support.smtp import smtp_server

__all__ = ["smtp_server"]
