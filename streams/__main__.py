"""`python -m streams`: the sendgate command line."""

from streams.cli import main

__all__: list[str] = []

if __name__ == "__main__":
    main()
