"""`/v1/provenance`: who made an image and whether its Content Credentials are intact."""
