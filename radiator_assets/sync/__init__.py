"""Turning Tracker payloads into warehouse rows: the write path behind the ingestion assets.

No Dagster here: the assets call these functions and report what they return,
so `radiator sync`, the sensor's runs and the tests share one code path.
"""
