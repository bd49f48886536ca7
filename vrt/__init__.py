"""VRT platform: train, evaluate and serve grounded visual-reasoning models.

The `vrt` command (vrt.cli.main) is the entry point; see README.md.
"""

__version__ = "0.1.0"
