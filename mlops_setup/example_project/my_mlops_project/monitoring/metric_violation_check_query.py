"""SQL that tells whether a monitored metric broke its threshold often enough to retrain."""


def violation_query(table_name_under_monitor, metric_to_monitor, threshold, windows, violations):
    """A query returning one boolean row, `is_metric_violated`."""
    profile = f"{table_name_under_monitor}_profile_metrics"
    return f"""
        WITH recent AS (
          SELECT {metric_to_monitor} AS value
          FROM {profile}
          ORDER BY window.start DESC
          LIMIT {int(windows)}
        )
        SELECT count_if(value > {float(threshold)}) >= {int(violations)} AS is_metric_violated
        FROM recent
    """
