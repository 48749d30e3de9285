"""Moves the "champion" alias of a Unity Catalog model to a validated version."""


def split_model_uri(model_uri):
    """("catalog.schema.model", "version") from "models:/catalog.schema.model/version"."""
    prefix = "models:/"
    name, _, version = model_uri.removeprefix(prefix).rpartition("/")
    if not model_uri.startswith(prefix) or name.count(".") != 2 or not version.isdigit():
        raise ValueError(f"not a Unity Catalog model version URI: {model_uri!r}")
    return name, version


def deploy(model_uri, env):
    """Give the version in `model_uri` the "champion" alias in the catalog of `env`."""
    from mlflow import MlflowClient

    name, version = split_model_uri(model_uri)
    client = MlflowClient(registry_uri="databricks-uc")
    client.set_registered_model_alias(name=name, alias="champion", version=version)
    print(f"{env}: {name} version {version} is now the champion")
