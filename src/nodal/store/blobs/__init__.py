"""Blob store implementations."""
