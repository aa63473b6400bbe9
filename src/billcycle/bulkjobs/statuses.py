"""The names Fusebill gives bulk jobs ("account uploads") and their records, and which
job statuses allow what.

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

from typing import Final

# -- job types -------------------------------------------------------------------------------

BULK_WRITE_OFF: Final = "BulkWriteOff"
BULK_PAYMENT: Final = "BulkPayment"
# What the API can create (Fusebill); BulkPayment arrives with payments.
CREATABLE_TYPES: Final = (BULK_WRITE_OFF, BULK_PAYMENT)

# -- job statuses ----------------------------------------------------------------------------

VALIDATING: Final = "Validating"
VALIDATED: Final = "Validated"
VALIDATED_WITH_ERRORS: Final = "ValidatedWithErrors"
FAILED: Final = "Failed"
PROCESSING: Final = "Processing"
PROCESSED: Final = "Processed"
PROCESSED_WITH_ERRORS: Final = "ProcessedWithErrors"
NOT_STARTED: Final = "NotStarted"

# A job that is validating, validated (awaiting processing) or processing: while one
# exists no other job may be created (Fusebill: "cannot be created if there are any
# bulk jobs still processing or awaiting processing").
OPEN: Final = (VALIDATING, VALIDATED, VALIDATED_WITH_ERRORS, PROCESSING, NOT_STARTED)
CANCELLABLE: Final = OPEN
PROCESSABLE: Final = (VALIDATED, VALIDATED_WITH_ERRORS)

# -- record statuses -------------------------------------------------------------------------

PENDING: Final = "Pending"
PASSED_VALIDATION: Final = "PassedValidation"
FAILED_VALIDATION: Final = "FailedValidation"
RECORD_PROCESSED: Final = "Processed"
FAILED_PROCESSING: Final = "FailedProcessing"

# Records a cancel marks failed: those not yet in a final state.
INCOMPLETE: Final = (PENDING, PASSED_VALIDATION)

# Fusebill's exact text for records failed by a cancel.
MANUALLY_FAILED: Final = "Manually marked as Failed."
