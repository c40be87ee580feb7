"""`radiator export`: Russian labels on the columns."""

from __future__ import annotations

from radiator_assets.reports import export
from radiator_assets.storage.report_models import REPORT_TABLES


def test_every_report_column_has_a_russian_label_of_its_own():
    for name, table in REPORT_TABLES.items():
        labels = [column.info.get("ru") for column in table.columns]
        unlabelled = [c.name for c, label in zip(table.columns, labels, strict=True) if not label]
        assert unlabelled == [], name
        assert len(set(labels)) == len(labels), name
    assert export.header_ru(REPORT_TABLES["report_ttm_details"], "ttd_pause") == "Пауза TTD"
