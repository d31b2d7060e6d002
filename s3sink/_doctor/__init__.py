"""``s3sink doctor``: probes of what a store verifies, run in a session of scratch objects."""
