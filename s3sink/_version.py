"""The package's version, in a leaf of its own so that the command can print it without
importing the package's front."""

__version__ = "0.1.0.dev0"
