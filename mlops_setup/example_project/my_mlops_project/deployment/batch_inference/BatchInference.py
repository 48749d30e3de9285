# Databricks notebook source
# BatchInference: scores `input_table_name` with the champion version of `model_name` and
# writes the predictions to `output_table_name`.

# COMMAND ----------

import datetime
import sys

sys.path.append(".")

from mlflow import MlflowClient

from predict import predict_batch

dbutils.widgets.dropdown("env", "dev", ["dev", "staging", "prod", "test"], "Environment")
dbutils.widgets.text("input_table_name", "", "Input table")
dbutils.widgets.text("output_table_name", "", "Output table")
dbutils.widgets.text("model_name", "", "Model name (catalog.schema.model)")

# COMMAND ----------

model_name = dbutils.widgets.get("model_name")
champion = MlflowClient(registry_uri="databricks-uc").get_model_version_by_alias(
    model_name, "champion"
)
predict_batch(
    spark,
    f"models:/{model_name}@champion",
    dbutils.widgets.get("input_table_name"),
    dbutils.widgets.get("output_table_name"),
    champion.version,
    datetime.datetime.now(datetime.timezone.utc).isoformat(),
)
