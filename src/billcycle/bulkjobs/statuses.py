"""The one home of the words Fusebill gives bulk jobs ("account uploads") and their
records, and of which job statuses allow what (stored as is, shown as is).

Job lifecycle: ``Validating`` -> ``Validated`` | ``ValidatedWithErrors`` | ``Failed``
(Failed: no record passed validation, so there is nothing to process) -> (process)
``Processing`` -> ``Processed`` | ``ProcessedWithErrors``. A cancel moves any job that
is not finished to ``ProcessedWithErrors``.

Record lifecycle: ``Pending`` -> ``PassedValidation`` | ``FailedValidation``;
``PassedValidation`` -> ``Processed`` | ``FailedProcessing``. Fusebill's documents show
``PassedValidation`` and ``FailedProcessing``; ``Pending``, ``FailedValidation`` and the
success name ``Processed`` (Fusebill's job status for the same outcome) are billcycle's.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final


class BulkJobType(StrEnum):
    BULK_WRITE_OFF = "BulkWriteOff"
    BULK_PAYMENT = "BulkPayment"


# What the API can create (Fusebill); BulkPayment arrives with payments.
CREATABLE_TYPES: Final = (BulkJobType.BULK_WRITE_OFF, BulkJobType.BULK_PAYMENT)


class BulkJobStatus(StrEnum):
    VALIDATING = "Validating"
    VALIDATED = "Validated"
    VALIDATED_WITH_ERRORS = "ValidatedWithErrors"
    FAILED = "Failed"
    PROCESSING = "Processing"
    PROCESSED = "Processed"
    PROCESSED_WITH_ERRORS = "ProcessedWithErrors"
    NOT_STARTED = "NotStarted"


# A job that is validating, validated (awaiting processing) or processing: while one
# exists no other job may be created (Fusebill: "cannot be created if there are any
# bulk jobs still processing or awaiting processing").
OPEN: Final = (
    BulkJobStatus.VALIDATING,
    BulkJobStatus.VALIDATED,
    BulkJobStatus.VALIDATED_WITH_ERRORS,
    BulkJobStatus.PROCESSING,
    BulkJobStatus.NOT_STARTED,
)
CANCELLABLE: Final = OPEN
PROCESSABLE: Final = (BulkJobStatus.VALIDATED, BulkJobStatus.VALIDATED_WITH_ERRORS)


class RecordStatus(StrEnum):
    PENDING = "Pending"
    PASSED_VALIDATION = "PassedValidation"
    FAILED_VALIDATION = "FailedValidation"
    PROCESSED = "Processed"
    FAILED_PROCESSING = "FailedProcessing"


# Records a cancel marks failed: those not yet in a final state.
INCOMPLETE: Final = (RecordStatus.PENDING, RecordStatus.PASSED_VALIDATION)

# Fusebill's exact text for records failed by a cancel.
MANUALLY_FAILED: Final = "Manually marked as Failed."
