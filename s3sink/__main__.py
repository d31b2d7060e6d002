"""``python -m s3sink``: the same as the ``s3sink`` command."""

from .cli import main

if __name__ == "__main__":
    main()
