"""Page routers, one file per audience."""
