"""Bill-run tests reuse the real SMTP server fixture of the notification tests."""

from tests.notifications.conftest import smtp_server

__all__ = ["smtp_server"]
