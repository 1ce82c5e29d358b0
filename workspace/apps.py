from django.apps import AppConfig


class WorkspaceConfig(AppConfig):
    """The top layer: pages composing several apps for one person, and the demo seed. No models."""

    name = "workspace"
