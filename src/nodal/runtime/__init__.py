"""Runtime backends: where and how containers run (`local` here, `ray` for clusters)."""
