"""A hosted card page link."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class CardLinkOut(BaseModel):
    url: str = Field(description="The card page; whoever holds it can set the default card")
    expires_at: datetime = Field(description="Machine time (UTC) after which it is refused")
