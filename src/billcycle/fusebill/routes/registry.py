"""Every Fusebill resource router."""

from __future__ import annotations

from fastapi import APIRouter

FUSEBILL_ROUTERS: list[APIRouter] = []
