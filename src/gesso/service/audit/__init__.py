"""`/v1/audit`: the tenant's audit chain and its verification."""
