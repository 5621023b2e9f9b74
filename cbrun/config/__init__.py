"""TensorFlow-free configuration: YAML loading, schemas, checks and overrides.

Nothing in this package may import ``keras`` or ``tensorflow``: ``cbrun validate``
must stay fast, and a subprocess test guards that.
"""
