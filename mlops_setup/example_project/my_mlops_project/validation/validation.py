"""What ModelValidation.py checks: extra metrics, thresholds and evaluator settings."""


def custom_metrics():
    """Metrics computed on top of mlflow.evaluate's defaults (none here)."""
    return []


def validation_thresholds():
    """Limits a new model version has to stay within."""
    from mlflow.models import MetricThreshold

    return {
        "max_error": MetricThreshold(threshold=500, greater_is_better=False),
        "mean_squared_error": MetricThreshold(threshold=20, greater_is_better=False),
    }


def evaluator_config():
    """Settings passed to mlflow.evaluate's evaluator (defaults)."""
    return {}
