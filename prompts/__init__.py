"""The prompt templates of the LLM pass, installed as ``extractor.prompts`` (data only).

Read them with :func:`extractor.llm.templates.load`; README.md beside them says how they are
written and versioned.
"""
