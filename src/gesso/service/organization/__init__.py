"""Gesso's organisation extensions: the calling key (`/v1/me`), governance settings, erasure and
model approval, API keys, usage."""
