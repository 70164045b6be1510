"""The `modal` command line (`modal run`, `modal deploy`, `modal app …`, `modal server …`)."""
