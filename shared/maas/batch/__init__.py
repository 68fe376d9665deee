"""Batch predictions: a whole file through a model, started by an S3 upload, results back in S3."""
