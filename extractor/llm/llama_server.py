"""llama-cpp-python's OpenAI-compatible server, decoding under a grammar the fast way.

The LLM pass asks for forced tool calls, which the server answers by decoding greedily under
a grammar made from the tool's JSON Schema.  llama.cpp's sampler chain checks that grammar
against every token of the vocabulary (151,936 for Qwen2.5) before each pick, which on two
cores adds about a third to the time of each token written.  Greedy decoding needs only the best
token the grammar allows: :class:`GrammarFirstSampler` checks the model's best token alone
and scans the vocabulary only when the grammar refuses it (what llama.cpp's own server does).
The tokens chosen are the same; only the time differs.

Run as ``python -m extractor.llm.llama_server`` with llama-cpp-python's server flags
(``extractor local-server`` does); it needs the ``local`` extra.
"""

from __future__ import annotations

import ctypes
import functools
import runpy
from typing import Any

import llama_cpp
import numpy as np
from llama_cpp.server.model import LlamaProxy


class GrammarFirstSampler:
    """Greedy decoding under a grammar, with the server's repeat penalties, token for token
    what llama.cpp's chain (penalties, grammar, greedy) picks.

    The penalties only lower the logits of recent tokens, and a grammar only rules tokens
    out, so the chain's pick is the best penalised token whenever the grammar allows it.
    """

    def __init__(self, llama: Any, grammar: Any, *, repeat: float, frequency: float, presence: float) -> None:
        size = int(llama.n_vocab())
        self._size = size
        self._penalties: Any = llama_cpp.llama_sampler_init_penalties(
            size, llama.last_n_tokens_size, repeat, frequency, presence
        )
        self._grammar: Any = llama_cpp.llama_sampler_init_grammar(
            llama._model.vocab,
            grammar._grammar.encode("utf-8"),
            grammar._root.encode("utf-8"),
        )
        self._vocabulary = (llama_cpp.llama_token_data * size)()
        self._scores = np.ctypeslib.as_array(self._vocabulary)
        self._scores["id"] = np.arange(size, dtype=np.int32)
        self._best = (llama_cpp.llama_token_data * 1)()
        self.scans = 0
        """Picks for which the grammar refused the best token and the vocabulary was scanned."""

    def _apply(self, sampler: Any, data: Any, size: int) -> None:
        candidates = llama_cpp.llama_token_data_array(data=data, size=size, selected=-1, sorted=False)
        llama_cpp.llama_sampler_apply(sampler, ctypes.byref(candidates))

    def sample(self, context: Any, index: int = -1) -> int:
        """The next token after the logits at ``index`` (as ``LlamaSampler.sample``)."""
        logits = llama_cpp.llama_get_logits_ith(context.ctx, index)
        self._scores["logit"] = np.ctypeslib.as_array(logits, shape=(self._size,))
        self._apply(self._penalties, self._vocabulary, self._size)
        token = int(np.argmax(self._scores["logit"]))
        self._best[0] = llama_cpp.llama_token_data(token, self._scores["logit"][token], 0.0)
        self._apply(self._grammar, self._best, 1)
        if np.isneginf(self._best[0].logit):
            self.scans += 1
            self._apply(self._grammar, self._vocabulary, self._size)
            token = int(np.argmax(self._scores["logit"]))
        llama_cpp.llama_sampler_accept(self._penalties, token)
        llama_cpp.llama_sampler_accept(self._grammar, token)
        return token

    def close(self) -> None:
        for sampler in (self._penalties, self._grammar):
            if sampler is not None:
                llama_cpp.llama_sampler_free(sampler)
        self._penalties = self._grammar = None

    def __del__(self) -> None:
        self.close()


def _sampler(default: Any, llama: Any, **options: Any) -> Any:
    """``Llama._init_sampler`` for one generation: grammar first for greedy decoding under a
    grammar, llama-cpp-python's own chain for anything else."""
    # At temperature 0 llama-cpp-python's chain is penalties, grammar, greedy (mirostat and
    # the other samplers only come with a temperature); a logits processor goes before them.
    if options.get("grammar") is None or options.get("temp") != 0.0 or options.get("logits_processor"):
        return default(**options)
    return GrammarFirstSampler(
        llama,
        options["grammar"],
        repeat=options.get("repeat_penalty", 1.0),
        frequency=options.get("frequency_penalty", 0.0),
        presence=options.get("presence_penalty", 0.0),
    )


def grammar_first(llama: Any) -> Any:
    """``llama`` (a ``llama_cpp.Llama``), decoding greedily under a grammar with
    :class:`GrammarFirstSampler` from now on."""
    llama._init_sampler = functools.partial(_sampler, llama._init_sampler, llama)
    return llama


def main() -> None:
    """llama-cpp-python's server, each model it loads decoding grammar first."""
    load = LlamaProxy.load_llama_from_model_settings

    def load_grammar_first(settings: Any) -> Any:
        return grammar_first(load(settings))

    # The server builds its models through this one function; setattr, because a type checker
    # rightly refuses an assignment to a method of a class it knows.
    setattr(LlamaProxy, "load_llama_from_model_settings", staticmethod(load_grammar_first))  # noqa: B010
    runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
