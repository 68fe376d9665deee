"""The GPU worker: ``consumer`` (the SQS receive loop), ``engine`` (one job in, one outcome out), ``batcher``
(dynamic batching per model version), ``http`` (SageMaker's and KServe's routes for one model, over ``wire``),
``main`` (``maas worker run``). Every request runs through ``maas.inference.pipeline``.
"""
