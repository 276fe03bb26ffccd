"""``extractor review``: a local web app where a person checks each record against its letter.

The letter's pages are shown as images with a box over the characters each value was read
from (:mod:`boxes`), the record's fields beside them, and every correction is appended to
``reviews.jsonl`` beside the records (:mod:`corrections`), never rewriting them.
"""
