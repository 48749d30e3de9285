# Databricks notebook source
# ModelValidation: evaluates the version Train registered against the thresholds in
# validation.py and, unless `run_mode` is `disabled`, gives it the "challenger" alias when it
# passes (`dry_run` lets a failing model through and only reports).

# COMMAND ----------

import sys

sys.path.append(".")

import mlflow
from mlflow import MlflowClient

from validation import custom_metrics, evaluator_config, validation_thresholds

run_mode = dbutils.widgets.get("run_mode").lower()
model_uri = dbutils.jobs.taskValues.get("Train", "model_uri", debugValue="")
model_name = dbutils.jobs.taskValues.get("Train", "model_name", debugValue="")
model_version = dbutils.jobs.taskValues.get("Train", "model_version", debugValue="")

# COMMAND ----------

if run_mode != "disabled":
    data = spark.sql(dbutils.widgets.get("validation_input")).toPandas()
    try:
        mlflow.evaluate(
            model_uri,
            data,
            targets=dbutils.widgets.get("targets"),
            model_type=dbutils.widgets.get("model_type"),
            extra_metrics=custom_metrics(),
            validation_thresholds=validation_thresholds(),
            evaluator_config=evaluator_config(),
        )
    except mlflow.models.evaluation.validation.ModelValidationFailedException:
        if run_mode == "enabled":
            raise
    MlflowClient(registry_uri="databricks-uc").set_registered_model_alias(
        model_name, "challenger", model_version
    )
