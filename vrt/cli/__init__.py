"""The `vrt` command line: one module per command group, assembled in vrt.cli.main."""
