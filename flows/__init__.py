"""Prefect flows: the pipeline's stages composed and scheduled (the Airflow role).

Flows only call `services/` through the thin tasks in `flows/tasks.py`; they hold no logic
of their own beyond order, retries and reporting.
"""
