"""What the running service holds and runs besides its routes: the state built at start, the
expected-wait estimate, and the background governance work."""
