"""Training loops: autoencoder, base denoiser, recogniser; checkpoints and evaluation."""
