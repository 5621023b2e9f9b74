"""cbrun: Keras training runs from one reviewable YAML file."""

__version__ = "0.1.0"
