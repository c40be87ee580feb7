"""Every report picture in one call: the one path that draws them (the `report_pictures`
asset, `radiator pictures`, the demo and `radiator deliver telegram` all call
`draw_report_pictures`).

Drawing is not a report build's job: the builds write tables (every few minutes when
the sensor syncs), the pictures are drawn from the committed tables afterwards, by the
daily `reports` run, on demand, and before a delivery that sends them. Each render keeps
a file whose inputs did not change (`pictures.unchanged`); whether it did is read from
the file itself (a redrawn file is a new file: `save_png` writes a temporary one and
renames it over the old), so the render functions stay as they are.

The pictures describe the as_of of the tables they are drawn from: the product
reports' last build records it (`report_builds`), so a picture drawn hours after a
sync still shows the sync's as_of (`tables_as_of`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy.engine import Engine

from radiator_assets.reports.changes import previous_build
from radiator_assets.reports.common import ReportInputs
from radiator_assets.reports.pictures import render_activity_pictures, render_product_pictures
from radiator_assets.reports.product import FAMILY as PRODUCT_FAMILY
from radiator_assets.reports.trends import render_trends

#: the table the trend chart is drawn from (with report_flow_history)
TRENDS_REPORT = "report_summary_history"


@dataclass(frozen=True)
class DrawnPicture:
    """One picture: its name (`heatmap_p85`), the report table it shows, its file, and
    whether this call drew it (False: its inputs had not changed, the file was kept)."""

    name: str
    report: str
    path: Path
    redrawn: bool


def tables_as_of(engine: Engine) -> datetime | None:
    """The as_of of the product reports' last build, None before the first build."""
    with engine.connect() as conn:
        build = previous_build(conn, PRODUCT_FAMILY)
    return None if build is None else build.as_of


def _file_identity(path: Path) -> tuple[int, int] | None:
    """(inode, mtime in ns) of `path`, None when it does not exist: a kept file keeps both."""
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        return None
    return stat.st_ino, stat.st_mtime_ns


def draw_report_pictures(
    engine: Engine, inputs: ReportInputs, directory: Path
) -> list[DrawnPicture]:
    """Render every report picture under `directory` from the committed report tables:
    the three TTM heatmaps, the cumulative flow, the aging WIP, the status activity table
    and the trend chart, in that order. A picture whose inputs did not change is kept."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    before = {path: _file_identity(path) for path in directory.glob("*.png")}
    drawn: list[tuple[str, str, Path]] = [
        (name, report, path)
        for (report, name), path in render_product_pictures(engine, inputs, directory).items()
    ]
    drawn += [
        (name, "report_status_activity", path)
        for name, path in render_activity_pictures(engine, inputs, directory).items()
    ]
    drawn.append(("trends", TRENDS_REPORT, render_trends(engine, inputs, directory)))
    return [
        DrawnPicture(name, report, path, redrawn=_file_identity(path) != before.get(path))
        for name, report, path in drawn
    ]
