"""Nodal: the control plane, stores, runtimes, image builder and worker behind the `modal` SDK."""

__version__ = "0.1.0"
