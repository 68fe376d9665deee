"""The ``maas`` command line."""
