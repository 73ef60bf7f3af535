"""hotdash: runner for the hotdash-data dbt project."""

__version__ = "0.1.0"
