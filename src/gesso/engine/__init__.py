"""Model registry, pipeline cache, device and dtype choice (no tenants)."""
