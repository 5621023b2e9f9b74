"""Entry point for ``python -m cbrun``."""

from cbrun.cli import main

if __name__ == "__main__":
    main()
