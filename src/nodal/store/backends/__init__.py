"""Metadata store implementations (SQLite now; PostgreSQL for clusters)."""
