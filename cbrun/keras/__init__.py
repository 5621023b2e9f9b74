"""Everything that imports Keras: data, model, compile and callbacks."""
