"""`modal.stream_type.StreamType`: where a sandbox process's stdout/stderr go."""

from modal.io_streams import StreamType

__all__ = ["StreamType"]
