"""The usage package's word sets (values are Zuora's wire words)."""

from __future__ import annotations

from enum import StrEnum


class UsageSource(StrEnum):
    """Where a usage record came from (Zuora ``SourceType``)."""

    API = "API"
    IMPORT = "Import"


class UsageStatus(StrEnum):
    """Zuora's ``RbeStatus``: Pending until a bill run rates it, then Processed."""

    PENDING = "Pending"
    PROCESSED = "Processed"


class ImportStatus(StrEnum):
    """A usage file import, as the ``checkImportStatus`` resource shows it."""

    PENDING = "Pending"
    PROCESSING = "Processing"
    COMPLETED = "Completed"
    CANCELED = "Canceled"
    FAILED = "Failed"
