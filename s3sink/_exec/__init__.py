"""The command's process plumbing: running a producer (exec mode), FIFOs, signals and pipes.
Only :mod:`s3sink.cli` imports this package."""
