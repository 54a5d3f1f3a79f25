"""Governance: tenants, API keys, roles, limits, audit, policy, provenance."""
