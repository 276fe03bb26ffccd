"""Drugs and drug classes of medication items, on requests written for this test."""

from __future__ import annotations

import tomllib
from importlib.resources import files

import pytest

from extractor import crosscheck
from extractor.drugs import medication, parse_vocabulary, vocabulary
from extractor.grounding import LetterIndex
from extractor.llm.drafts import ItemDraft
from extractor.rules import extract_rules
from extractor.rules.categories import classify
from extractor.schemas import Category, Decision, DrugClass, Item

TABLE = files("extractor").joinpath("drugs.toml").read_text("utf-8")

# One row per behaviour, and one per drug a change to drugs.toml adds (name it here).
CASES = [
    # a brand gives its generic
    ("Ultram 50mg #60", ["tramadol"], "opioid"),
    ("Prilosec 20mg #90", ["omeprazole"], "gastrointestinal"),
    ("Soma 350 1 by mouth twice daily, #60", ["carisoprodol"], "muscle_relaxant"),
    ("Lyrica 75mg #60", ["pregabalin"], "anticonvulsant"),
    ("Cymbalta 60mg #30", ["duloxetine"], "antidepressant"),
    ("Ambien 10mg #30", ["zolpidem"], "sedative_hypnotic"),
    ("Theramine #120", ["theramine"], "medical_food"),
    ("Imitrex 50mg #9", ["sumatriptan"], "other"),
    # salt and release words are not part of the generic name
    ("Venlafaxine HCL ER 37.5mg #90", ["venlafaxine"], "antidepressant"),
    ("Tramadol ER 150mg #30", ["tramadol"], "opioid"),
    # a combination product lists its actives in the label's order; the first class decides
    ("Norco 10/325 #60", ["hydrocodone", "acetaminophen"], "opioid"),
    ("Fioricet #120", ["butalbital", "acetaminophen", "caffeine"], "sedative_hypnotic"),
    ("Diclofenac/misoprostol 75-0.2mg #60", ["diclofenac", "misoprostol"], "nsaid"),
    ("Hydrocodone/APAP 10/325mg #90", ["hydrocodone", "acetaminophen"], "opioid"),
    # a compound lists every named active, each once, in the order requested
    ("Flurbiprofen 10%, Cyclobenzaprine 3%, Gabapentin 6%, Lidocaine 5%/Dextromethorphan",
     ["flurbiprofen", "cyclobenzaprine", "gabapentin", "lidocaine", "dextromethorphan"], "topical_analgesic"),
    ("Lidopro ointment", ["capsaicin", "lidocaine", "menthol", "methyl salicylate"], "topical_analgesic"),
    # the route wins over the ingredient's class
    ("Cyclobenzaprine 5% in cream base 240g", ["cyclobenzaprine"], "topical_analgesic"),
    ("Voltaren gel 1% 100g", ["diclofenac"], "topical_analgesic"),
    ("Voltaren 75mg #60", ["diclofenac"], "nsaid"),
    ("Flector patch", ["diclofenac"], "topical_analgesic"),
    ("Compounded topical cream", [], "topical_analgesic"),
    # misspellings: the nearest name in the table
    ("Cyclobenzeprine 7.5mg #60", ["cyclobenzaprine"], "muscle_relaxant"),
    ("Omeprazol 20mg #30", ["omeprazole"], "gastrointestinal"),
    ("Tramadal ER 100mg", ["tramadol"], "opioid"),
    ("Tylenol #3 #60", ["acetaminophen", "codeine"], "opioid"),  # a name may hold a number
    ("Gabapentin 10%, Bupivacaine 5% cream", ["gabapentin", "bupivacaine"], "topical_analgesic"),
    # a compounding base is no drug, though one letter from Lidoderm
    ("Flurbiprofen 20% in Lipoderm base", ["flurbiprofen"], "topical_analgesic"),
    # a medication the table does not know names no drug and no class
    ("Unknownex 10mg #30", [], None),
]  # fmt: skip


@pytest.mark.parametrize(("request_text", "drugs", "drug_class"), CASES)
def test_a_medication_request_names_its_drugs_and_class(
    request_text: str, drugs: list[str], drug_class: str | None
) -> None:
    found = medication(request_text, Category.MEDICATION)
    assert found.drugs == drugs
    assert found.drug_class == (DrugClass(drug_class) if drug_class else None)


@pytest.mark.parametrize(
    ("request_text", "category"),
    [("MRI of the right shoulder", Category.IMAGING), ("Toradol 60mg IM injection", Category.INJECTION)],
)
def test_an_item_that_is_no_medication_has_no_drugs_and_no_class(
    request_text: str, category: Category
) -> None:
    assert medication(request_text, category) == ([], None)


def test_a_short_word_is_never_matched_fuzzily() -> None:
    """A word under six letters matches only exactly: "Some" is one letter from "Soma"."""
    assert medication("Some medication", Category.MEDICATION) == ([], None)


def test_one_line_of_data_adds_a_drug() -> None:
    assert medication("Lofena 25mg #60", Category.MEDICATION).drugs == []
    added = parse_vocabulary(tomllib.loads(TABLE + 'lofena = { actives = ["diclofenac"] }\n'))
    assert medication("Lofena 25mg #60", Category.MEDICATION, added) == (["diclofenac"], DrugClass.NSAID)


def test_a_brand_must_name_generics_the_table_lists() -> None:
    with pytest.raises(ValueError, match="lofena"):
        parse_vocabulary(tomllib.loads(TABLE + 'lofena = { actives = ["diclofenac potassium"] }\n'))


@pytest.mark.parametrize("name", sorted(vocabulary().products))
def test_every_name_in_the_table_reads_as_its_own_actives(name: str) -> None:
    """No other name, whole or near, takes a line's place (a new line is checked here too)."""
    found = medication(name.title(), Category.MEDICATION)
    assert found.drugs == list(vocabulary().products[name].actives)
    assert found.drug_class is not None


def test_the_classifier_takes_every_drug_of_the_table_for_a_medication() -> None:
    assert classify("Percura #120") is Category.MEDICATION


LETTER = (
    "INDEPENDENT MEDICAL REVIEW\nCase Number: CM99-0000003\nDecision Date: 02/01/2017\n"
    "IMR ISSUES, DECISIONS AND RATIONALES:\n{heading}: Upheld\n"
    "Claims Administrator guideline: Decision based on MTUS Chronic Pain Medical Treatment 2009.\n"
    "Decision rationale: The request is not medically necessary.\n"
)


def test_the_rules_pass_reads_drugs_from_the_heading() -> None:
    heading = "Norco 10/325mg #60"
    text = LETTER.format(heading=heading)
    rules = extract_rules(text)
    (item,) = rules.determination.items
    assert (item.drugs, item.drug_class) == (["hydrocodone", "acetaminophen"], DrugClass.OPIOID)
    for name in ("drugs", "drug_class"):
        assert [text[a:b] for a, b in rules.item_evidence[0][name]] == [heading]


def test_the_llm_pass_reads_drugs_from_its_request_and_is_never_asked() -> None:
    draft = ItemDraft(request="Norco 10/325mg #60", decision=Decision.UPHELD, category=Category.MEDICATION)
    item = draft.to_item()
    assert (item.drugs, item.drug_class) == (["hydrocodone", "acetaminophen"], DrugClass.OPIOID)
    sent = ItemDraft.model_json_schema()["properties"]
    assert "drugs" not in sent
    assert "drug_class" not in sent


def test_the_hybrid_reads_drugs_again_with_the_llms_category(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(crosscheck, "is_confident", lambda *_: False)  # the classifier could not decide
    rules = Item(request="Norco 10/325mg #60", decision=Decision.UPHELD, category=Category.OTHER)
    llm = rules.model_copy(update={"category": Category.MEDICATION})
    merged, _ = crosscheck._merge_item(0, rules, llm, {}, LetterIndex(""))
    assert (merged.category, merged.drugs, merged.drug_class) == (
        Category.MEDICATION,
        ["hydrocodone", "acetaminophen"],
        DrugClass.OPIOID,
    )
