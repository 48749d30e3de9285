"""Scores a table with a registered model and saves the result as a Delta table."""


def predict_batch(spark, model_uri, input_table_name, output_table_name, model_version, ts):
    """Write `input_table_name` plus a `prediction` column to `output_table_name`."""
    import mlflow
    from pyspark.sql import functions as F

    table = spark.table(input_table_name)
    score = mlflow.pyfunc.spark_udf(spark, model_uri, result_type="double")
    (
        table.withColumn("prediction", score(F.struct(*table.columns)))
        .withColumn("model_id", F.lit(model_version))
        .withColumn("timestamp", F.to_timestamp(F.lit(ts)))
        .write.format("delta")
        .mode("overwrite")
        .saveAsTable(output_table_name)
    )
