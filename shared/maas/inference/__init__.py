"""Synchronous inference over the Open Inference Protocol v2: codec, checks, model cache, service."""
