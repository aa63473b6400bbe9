"""The one home of a bill run's status words (Zuora's, stored as is).

Lifecycle: ``Pending`` -> ``Processing`` -> ``Completed`` | ``Error``; ``Completed`` ->
``PostInProgress`` -> ``Posted``; ``Pending``/``Completed``/``Error`` ->
``CancelInProgress`` -> ``Canceled``; ``Canceled``/``Error`` -> ``RemoveInProgress`` ->
(deleted). ``Paused`` is accepted on the wire (a status filter) but nothing pauses runs.
"""

from __future__ import annotations

from enum import StrEnum


class BillRunStatus(StrEnum):
    PENDING = "Pending"
    PROCESSING = "Processing"
    COMPLETED = "Completed"
    ERROR = "Error"
    CANCELED = "Canceled"
    POSTED = "Posted"
    POST_IN_PROGRESS = "PostInProgress"
    CANCEL_IN_PROGRESS = "CancelInProgress"
    REMOVE_IN_PROGRESS = "RemoveInProgress"
    PAUSED = "Paused"
