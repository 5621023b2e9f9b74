"""cbrun's own callbacks: TF 2.0 behaviour that Keras 3 removed."""
