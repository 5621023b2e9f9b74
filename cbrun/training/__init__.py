"""One run's lifecycle: assemble, fit, classify the outcome, resume, smoke, signals."""
