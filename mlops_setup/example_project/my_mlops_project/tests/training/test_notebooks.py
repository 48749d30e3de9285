import pathlib

import pytest

PROJECT = pathlib.Path(__file__).resolve().parents[2]
NOTEBOOKS = [
    "training/Train.py",
    "validation/ModelValidation.py",
    "deployment/model_deployment/ModelDeployment.py",
    "deployment/batch_inference/BatchInference.py",
    "monitoring/MonitoredMetricViolationCheck.py",
]


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_is_a_databricks_source_notebook(notebook):
    assert (PROJECT / notebook).read_text().startswith("# Databricks notebook source\n")


def test_model_uri_is_split_into_name_and_version():
    from deployment.model_deployment.deploy import split_model_uri

    assert split_model_uri("models:/prod.schema.model/3") == ("prod.schema.model", "3")
    with pytest.raises(ValueError):
        split_model_uri("models:/model/3")
