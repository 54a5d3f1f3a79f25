"""The tenant's governance applied to a request before any work is written: its content policy on
prompts, captions, trigger words and suffixes, and model approval."""
