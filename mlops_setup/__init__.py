"""mlops-setup: the Databricks MLOps Stacks setup guide, as Invoke tasks."""

__version__ = "0.1.0"

# The two deployment environments that get a workspace, a service principal and secrets.
ENVIRONMENTS = ("staging", "prod")
