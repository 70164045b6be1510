"""The image builder: layered root filesystems made from `modal.Image` build steps."""
