"""mlops-setup: the Databricks MLOps Stacks setup guide, as Invoke tasks."""

__version__ = "0.1.0"
