"""Benchmarks for `make bench`: each module's `run()` measures one stage and returns a dict.

They are not tests: nothing here asserts on time. Results are written as JSON to
`bench-results/<name>.json` with the machine they ran on, and targets sit beside the
numbers so a reader can compare.
"""
