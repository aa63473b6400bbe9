"""The "not given" marker of partial updates, shared by every domain's input types.

An update leaves a field at :data:`UNSET` to keep it as it is, so that ``None`` can mean
"clear this field".
"""

from __future__ import annotations

from enum import Enum
from typing import Final, Literal


class _Unset(Enum):
    UNSET = "UNSET"


UNSET: Final = _Unset.UNSET
Unset = Literal[_Unset.UNSET]
