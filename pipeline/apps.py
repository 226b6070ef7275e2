from django.apps import AppConfig


class PipelineConfig(AppConfig):
    """Orchestration: when generation and delivery run, and the operator's views of both."""

    name = "pipeline"
    verbose_name = "Pipeline"
