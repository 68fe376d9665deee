"""Model backends: checking artifacts before anything loads them, loading them, running them.

``base`` (the lifecycle every backend follows), ``loader`` (by framework), ``onnx`` (onnxruntime in process;
``onnx_proto`` and ``bundle`` check what it may read), ``torchscript`` (in a confined model host), ``smoke``
(inputs for a first run).
"""
