"""Run by ``test_e2e_triton_clients.py`` in the kserve virtual environment (``make kserve-venv``), not by pytest.

KServe's own REST client, unchanged (``kserve.InferenceRESTClient``, v2 protocol over httpx), calls one model of
the platform with JSON tensors and with binary ones (the binary tensor extension), asks whether it is ready, and
prints one JSON object: the outputs of each call as lists, and the model's readiness.

Usage: python kserve_client.py URL API_KEY MODEL INPUT_JSON   (INPUT_JSON: {"name", "shape", "rows"})
"""

from __future__ import annotations

import asyncio
import json
import sys

import numpy as np
from kserve import InferenceRESTClient, InferInput, InferRequest, RESTConfig
from kserve.protocol.infer_type import RequestedOutput


async def main(url: str, key: str, model: str, spec: dict) -> dict:
    headers = {"Authorization": f"Bearer {key}"}
    x = np.asarray(spec["rows"], dtype=np.float32).reshape(spec["shape"])
    client = InferenceRESTClient(RESTConfig(protocol="v2", retries=0, timeout=60))
    results: dict = {}
    try:
        results["ready"] = await client.is_model_ready(url, model, headers=headers)
        for binary in (False, True):
            tensor = InferInput(spec["name"], list(x.shape), "FP32")
            tensor.set_data_from_numpy(x, binary_data=binary)
            outputs = [RequestedOutput("logits", parameters={"binary_data": binary})]
            request = InferRequest(model, [tensor], request_id=f"kserve-{binary}", request_outputs=outputs)
            response = await client.infer(url, request, model_name=model, headers=headers)
            results["binary" if binary else "json"] = {
                "id": response.id,
                "model_name": response.model_name,
                "outputs": {o.name: o.as_numpy().tolist() for o in response.outputs},
            }
    finally:
        await client.close()
    return results


if __name__ == "__main__":
    base_url, api_key, model_name, input_json = sys.argv[1:5]
    print(json.dumps(asyncio.run(main(base_url, api_key, model_name, json.loads(input_json)))))
