"""Benchmarks for wecom-warden (run with `.venv/bin/python -m bench.ingest`)."""
