"""Backups as a set: ``s3sink ls`` and ``s3sink prune`` (the policy, the inventory, the run)."""
