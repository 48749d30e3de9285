# Databricks notebook source
# Train: fits a regressor on the taxi fares in `training_data_path`, logs it to the MLflow
# experiment `experiment_name` and registers it in Unity Catalog as `model_name`.
# The version it registers is passed to the next tasks as task values.

# COMMAND ----------

dbutils.widgets.dropdown("env", "dev", ["dev", "staging", "prod", "test"], "Environment")
dbutils.widgets.text("training_data_path", "", "Training data path")
dbutils.widgets.text("experiment_name", "", "MLflow experiment")
dbutils.widgets.text("model_name", "", "Model name (catalog.schema.model)")

# COMMAND ----------

import mlflow
from sklearn.ensemble import RandomForestRegressor

mlflow.set_registry_uri("databricks-uc")
mlflow.set_experiment(dbutils.widgets.get("experiment_name"))
model_name = dbutils.widgets.get("model_name")

data = spark.read.format("delta").load(dbutils.widgets.get("training_data_path")).toPandas()
features = data.drop(columns=["fare_amount"]).select_dtypes("number")

with mlflow.start_run():
    model = RandomForestRegressor(n_estimators=50, max_depth=8).fit(features, data["fare_amount"])
    info = mlflow.sklearn.log_model(model, "model", input_example=features.head(5))

version = mlflow.register_model(info.model_uri, model_name).version
dbutils.jobs.taskValues.set("model_uri", f"models:/{model_name}/{version}")
dbutils.jobs.taskValues.set("model_name", model_name)
dbutils.jobs.taskValues.set("model_version", version)
