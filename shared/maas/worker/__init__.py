"""The GPU worker's engine: dynamic batching of inference requests per model version."""
