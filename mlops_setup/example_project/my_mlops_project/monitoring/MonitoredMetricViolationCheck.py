# Databricks notebook source
# MonitoredMetricViolationCheck: first task of the retraining job. Sets the task value
# `is_metric_violated`, which decides whether the training job is started again.

# COMMAND ----------

import sys

sys.path.append(".")

from metric_violation_check_query import violation_query

query = violation_query(
    dbutils.widgets.get("table_name_under_monitor"),
    dbutils.widgets.get("metric_to_monitor"),
    dbutils.widgets.get("metric_violation_threshold"),
    dbutils.widgets.get("num_evaluation_windows"),
    dbutils.widgets.get("num_violation_windows"),
)
violated = bool(spark.sql(query).first()["is_metric_violated"])
dbutils.jobs.taskValues.set("is_metric_violated", str(violated).lower())
