"""Human-readable documents the portal renders (PDF consent receipts with WeasyPrint)."""
