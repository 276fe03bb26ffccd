"""The eval harness: hand-labelled fixtures, per-field scoring, and offline LLM replay from cassettes.

- :mod:`evals.fixtures` loads the labels and finds each labelled letter.
- :mod:`evals.scoring` scores a predicted determination against a label (pure functions).
- :mod:`evals.cassettes` records and replays the LLM calls (vcrpy), with no letter text stored.
- :mod:`evals.harness` is the ``extractor eval`` command.
"""
