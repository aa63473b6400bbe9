"""Zuora wire shapes for an invoice's PDF files (zuora-sdk InvoiceFilesResponse,
InvoiceFile)."""

from __future__ import annotations

from pydantic import Field

from billcycle.documents.service import VersionInfo
from billcycle.ids import to_zuora_id
from billcycle.zuora.schemas.base import CamelResponse, CommonResponse


class InvoiceFile(CamelResponse):
    id: str = Field(
        description="The invoice file's id: not the file handle in pdfFileUrl, which is "
        "what GET /v1/files/{file-id} takes"
    )
    version_number: int
    pdf_file_url: str = Field(description="/v1/files/{file-id}: the PDF itself")


class InvoiceFilesResponse(CommonResponse):
    invoice_files: list[InvoiceFile]
    next_page: str | None = None


def invoice_file(version: VersionInfo) -> InvoiceFile:
    return InvoiceFile(
        id=to_zuora_id(version.id),
        version_number=version.version_number,
        pdf_file_url=f"/v1/files/{to_zuora_id(version.file_id)}",
    )
