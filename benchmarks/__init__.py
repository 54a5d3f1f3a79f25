"""`make bench`: measurements written to docs/BENCHMARKS.md (never assertions in tests)."""
