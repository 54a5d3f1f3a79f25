"""`python -m gesso.cli ...`, as the `gesso` console script."""

from gesso.cli import main

if __name__ == "__main__":
    main()
