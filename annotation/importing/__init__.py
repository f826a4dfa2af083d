"""Dataset import: pairrate bundles and the E-MM1 release layout (docs/formats.md)."""

from .errors import BundleError, RowError
from .loader import ImportSummary, import_bundle

__all__ = ["BundleError", "ImportSummary", "RowError", "import_bundle"]
