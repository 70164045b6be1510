"""Who is calling, and what they may do: tokens, workspaces, container credentials, limits.

The gate in `gate.py` (the servers' generic RPC handler) authenticates every RPC and sets the caller's
`Identity` (identity.py) for the handler; `scope.py` keeps each workspace's objects invisible
to the others; `tokens.py` mints and verifies tokens (stored hashed); `limits.py` holds the
per-token rate and stream limits.
"""
