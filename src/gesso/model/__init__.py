"""The in-house pipeline: text encoder, denoiser, autoencoder, sampling (no HTTP, tenants or DB)."""
