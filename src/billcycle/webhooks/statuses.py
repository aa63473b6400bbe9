from __future__ import annotations

from enum import StrEnum


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # waiting for its (next) attempt
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # gave up: the retry window ran out, or the endpoint was disabled
