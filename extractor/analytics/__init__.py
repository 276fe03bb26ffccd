"""The analyst layer: a batch's records as DuckDB tables, and the statistics people ask of them.

``tables`` turns a records.jsonl into normalised tables (named from the schema), ``export``
writes them as a DuckDB file, Parquet or CSV, ``stats`` computes the report, and ``terminal`` and
``report`` show it (rich tables; one offline HTML page with SVG charts). DuckDB and matplotlib
are imported only here, and only by the commands that use them.
"""
