"""Example user code that configs in this folder name by import path."""
