"""IMR determination letters in, validated and cross-checked records out.

>>> from extractor import extract
>>> record = extract("letters/CM16-0213037.pdf")          # rules backend, offline
>>> record.determination.items[0].decision
"""

from extractor.errors import ExtractionError
from extractor.pipeline import aextract, extract

__all__ = ["ExtractionError", "aextract", "extract"]
