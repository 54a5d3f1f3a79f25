"""Dataset format, validation of untrusted images, corpus builders (never calls the model)."""
