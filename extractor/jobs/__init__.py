"""Batch jobs: many letters into one output folder that survives kill -9 and resumes.

See ``extractor batch --help``; :func:`run_batch` is the same thing as a library call.
"""

from extractor.errors import InputNotFound, LedgerError
from extractor.jobs.inputs import expand
from extractor.jobs.runner import BatchOptions, BatchStopped, resume_command, run_batch
from extractor.jobs.summary import export_items

__all__ = [
    "BatchOptions",
    "BatchStopped",
    "InputNotFound",
    "LedgerError",
    "expand",
    "export_items",
    "resume_command",
    "run_batch",
]
