"""User code that test configs name by import path (``user_code.hooks:...``)."""
