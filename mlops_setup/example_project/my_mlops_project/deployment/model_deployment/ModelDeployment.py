# Databricks notebook source
# ModelDeployment: last task of the training job; makes the validated version the champion.

# COMMAND ----------

import sys

sys.path.append(".")

from deploy import deploy

dbutils.widgets.dropdown("env", "dev", ["dev", "staging", "prod", "test"], "Environment")
deploy(
    dbutils.jobs.taskValues.get("Train", "model_uri", debugValue=""),
    dbutils.widgets.get("env"),
)
