"""CSV imports of members and of purchases (formats in BRIEF.md, "Data in and out")."""

from .errors import RowError
from .members import MemberImportResult, import_members
from .purchases import PurchaseImportResult, import_purchases

__all__ = ["MemberImportResult", "PurchaseImportResult", "RowError", "import_members", "import_purchases"]
