"""The patient's body regions: those the case summary names as diagnosed, injured or complained of.

shared/CONTRACT.md leaves out the regions pain or numbness only reaches, those found only on
examination and those only a test or request is for; evals/LABELLING.md says how a person
reads them. The rules read them from two kinds of statement in the summary:

- the diagnoses (their spans, as the diagnosis list was read), every region they name;
- the sentences that state an injury or a complaint ("injured his low back", "filed a
  claim for shoulder pain", "complains of low back pain", "symptoms of anxiety"), unless the
  sentence is about an examination, a test, a request, a denial or the history; within one, what
  follows a word of reach ("radiating to the left leg") or of numbness ("tingling of the
  thumb", with the place named just before it) is left out, and so is a clause that tells how the
  injury happened without naming one ("when she fell onto a hand").

Each region is listed once, in the order first named in such a statement, with the side the
vocabulary reads (extractor.regions); the spans of the statements that named one are its evidence.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

from extractor.regions import regions_in
from extractor.schemas import BodyRegion, Span

_SENTENCE = re.compile(r"[^.]+")
# A sentence that states an injury or a complaint (not the "injured worker" who is its subject,
# nor the "date of injury" it dates something by).
_STATED = re.compile(
    r"\b(?:complain\w*|pain\w*|discomfort|ach(?:e|es|ing|y)|symptoms?|subjective|report(?:ed|s)"
    r"|present(?:ed|s|ing)\s+with|issues\s+with|claim\s+for|seen\s+for"
    r"|(?<!date\sof\s)injur(?:y|ies|ed)(?!\s+(?:worker|employee|party))|headaches?|depress\w*|anxiety|insomnia|palpitations?)\b",
    re.I,
)
# A sentence about what an examination, a test or an image found, a request or its review, what
# the worker denies, or the history: the regions it names are not the patient's by it.
_NOT_STATED = re.compile(
    r"\b(?:exam\w*|tender\w*|palpat\w*|objective|findings?|spasms?|sensation|reflex\w*|straight\s+leg"
    r"|dermatom\w*|MRI|MR|x-?rays?|radiographs?|CT|imaging|EMG|NCV|NCS|electrodiagnostic|ultrasound"
    r"|test\w*|request\w*|authori[sz]\w*|utilization|UR|certif\w*|plan|recommend\w*|refer\w*|ordered"
    r"|sought|proposed|denie[sd]|deny|history)\b",
    re.I,
)
# Where pain only reaches: from here to the sentence's end.
_REACH = re.compile(r"\b(?:radiat\w*|going\s+(?:all\s+the\s+way\s+)?down|extending\s+(?:down|into))\b", re.I)
# Numbness and its kin, and a radicular pattern: the place named just before and all after.
_NUMB = re.compile(r"\b(?:numb\w*|tingling|pa[re]esthes\w*|parasthes\w*|pattern|distribution)\b", re.I)
_BEFORE_NUMB = re.compile(r".*(?:[,;(]|\b(?:and|with|of)\b)", re.I | re.S)
# How the injury happened: left out unless it names the injury or the pain itself
# ("when he struck his head and injured his neck").
_EVENT = re.compile(r"\b(?:when|while|after)\b", re.I)
_INJURY = re.compile(
    r"\b(?:injur(?:y|ies|ed)(?!\s+(?:worker|employee|party))|suffer\w*|sustain\w*|pain|strain\w*|sprain\w*)\b",
    re.I,
)


def _stated_part(sentence: str) -> str:
    """The part of a sentence of injury or complaint that names the patient's own regions."""
    end = len(sentence)
    reach = _REACH.search(sentence)
    if reach:
        end = min(end, reach.start())
    numb = _NUMB.search(sentence)
    if numb:
        before = _BEFORE_NUMB.match(sentence, 0, numb.start())
        end = min(end, before.end() if before else 0)
    for event in _EVENT.finditer(sentence, 0, end):
        if not _INJURY.search(sentence, event.end(), end):
            end = event.start()
            break
    return sentence[:end]


def _statements(text: str, summary: Span) -> Iterator[Span]:
    """The spans of the summary's statements of injury or complaint."""
    for sentence in _SENTENCE.finditer(text, *summary):
        words = sentence.group()
        if _STATED.search(words) and not _NOT_STATED.search(words):
            part = _stated_part(words).rstrip(" ,;:\n")
            if part.strip():
                yield sentence.start(), sentence.start() + len(part)


def patient_regions(
    text: str, summary: Span, diagnoses: Sequence[Span]
) -> tuple[list[BodyRegion], list[Span]]:
    """The regions the summary names as diagnosed, injured or complained of, and the spans that
    named them (``diagnoses``: the spans of the diagnoses the rules pass read)."""
    named = sorted(
        span for span in {*diagnoses, *_statements(text, summary)} if regions_in(text[slice(*span)])
    )
    # one statement a part: a side carries over a list inside one, never into the next
    return regions_in("; ".join(text[start:end] for start, end in named)), named
