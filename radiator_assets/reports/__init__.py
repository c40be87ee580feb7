"""Report builders: the downstream half of the asset graph, without Dagster.

Every builder reads the warehouse set-based or as a stream of tasks ordered by
key in batches (a server-side cursor; one row per task with its stays as
arrays), turns each task's rows into `Stay`s, asks the metrics engine
(`radiator_assets.metrics`) for the numbers, and bulk-writes the report table
with COPY, replacing its rows inside one transaction. Where a metric is plain
arithmetic over consecutive stays (time in status, returns into a status) it is
a window-function query instead, with the engine's Python kept as the
definition the tests compare it with.

* `product.build_product_reports`: report_ttm_details, report_ttm_summary,
  report_flow_weekly and report_aging_wip in one pass over the product queue;
* `time_in_status.build_time_in_status`, `returns.build_testing_returns`,
  `activity.build_status_activity`, `subepic_returns.build_subepic_returns`:
  one report each;
* `pictures`: the PNG heatmap, cumulative flow diagram and aging-WIP scatter;
* `export.main`: `radiator export REPORT --format csv [--headers ru]
  [--compat radiator]` (`export_radiator`: the predecessor's details CSV); with
  `time_in_status --wide`, the pivot of `time_in_status_wide`.
"""
