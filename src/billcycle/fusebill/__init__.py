"""The Fusebill dialect: customers, invoices, write-offs and bulk jobs under ``/fusebill``."""
