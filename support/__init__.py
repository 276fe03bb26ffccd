"""Test doubles the tests, the benchmarks and the docs scripts share: a scripted
OpenAI-compatible endpoint (:mod:`support.fake_openai`) and the review app on loopback
(:mod:`support.review_server`).

Repository tooling beside ``tests/`` so that nothing outside ``tests/`` imports the tests; like
``evals/``, never installed with the package.
"""
