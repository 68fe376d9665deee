"""The boto3 side of the ports in ``maas.ports``. Nothing else in ``maas`` imports boto3."""
