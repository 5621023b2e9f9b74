"""The run directory: folder creation, atomic files and the run.json record.

TensorFlow-free (design.md section 6): nothing here imports keras, tensorflow
or numpy, so ``cbrun runs`` and ``cbrun show`` stay fast.
"""
