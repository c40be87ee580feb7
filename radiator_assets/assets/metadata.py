"""Metadata every materialization carries: row counts, column schemas, timings, API traffic."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dagster as dg
import sqlalchemy as sa
from sqlalchemy.engine import Engine


def column_schema(table: sa.Table) -> dg.TableSchema:
    return dg.TableSchema(
        columns=[
            dg.TableColumn(
                name=c.name,
                type=str(c.type.compile(dialect=sa.dialects.postgresql.dialect())),
                description=(c.comment or None),
                constraints=dg.TableColumnConstraints(
                    nullable=bool(c.nullable), unique=c.unique or False
                ),
            )
            for c in table.columns
        ]
    )


def row_count(engine: Engine, table: sa.Table) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(sa.select(sa.func.count()).select_from(table)) or 0)


def table_definition_metadata(table: sa.Table) -> dict[str, Any]:
    """What never changes between runs, declared on the asset (not copied onto every event)."""
    return {"dagster/column_schema": column_schema(table), "dagster/table_name": table.name}


def timing_metadata(seconds: Mapping[str, float]) -> dict[str, Any]:
    return {f"seconds_{phase}": dg.MetadataValue.float(round(v, 3)) for phase, v in seconds.items()}


def api_metadata(traffic: Mapping[str, float]) -> dict[str, Any]:
    return {
        "api_requests": int(traffic.get("requests", 0)),
        "api_retries": int(traffic.get("retries", 0)),
        "api_throttled": int(traffic.get("throttled", 0)),
        "api_bytes": int(traffic.get("bytes_received", 0)),
        "api_listing_restarts": int(traffic.get("scroll_restarts", 0)),
    }
