"""Batch jobs: many letters into one output folder that survives kill -9 and resumes.

See ``extractor batch --help``; :func:`run_batch` is the same thing as a library call.  The
names below are imported on first use, so a command that needs one module of the package (the
ledger's safe writes for ``extract -o``) does not import the batch runner with it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from extractor.errors import InputNotFound, LedgerError

if TYPE_CHECKING:
    from extractor.jobs.inputs import expand
    from extractor.jobs.runner import BatchOptions, BatchStopped, resume_command, run_batch
    from extractor.jobs.summary import export_items

_HOMES = {
    "expand": "extractor.jobs.inputs",
    "BatchOptions": "extractor.jobs.runner",
    "BatchStopped": "extractor.jobs.runner",
    "resume_command": "extractor.jobs.runner",
    "run_batch": "extractor.jobs.runner",
    "export_items": "extractor.jobs.summary",
}

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


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name]), name)
