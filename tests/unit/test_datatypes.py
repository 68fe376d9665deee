"""onnxruntime element types -> Open Inference Protocol v2 datatypes."""

from __future__ import annotations

import numpy as np
import pytest

from maas.datatypes import UnsupportedTypeError, from_onnxruntime, is_oip_datatype, to_numpy


@pytest.mark.parametrize(
    ("ort_type", "datatype", "dtype"),
    [
        ("tensor(bool)", "BOOL", np.bool_),
        ("tensor(uint8)", "UINT8", np.uint8),
        ("tensor(uint16)", "UINT16", np.uint16),
        ("tensor(uint32)", "UINT32", np.uint32),
        ("tensor(uint64)", "UINT64", np.uint64),
        ("tensor(int8)", "INT8", np.int8),
        ("tensor(int16)", "INT16", np.int16),
        ("tensor(int32)", "INT32", np.int32),
        ("tensor(int64)", "INT64", np.int64),
        ("tensor(float16)", "FP16", np.float16),
        ("tensor(float)", "FP32", np.float32),
        ("tensor(double)", "FP64", np.float64),
        ("tensor(string)", "BYTES", np.object_),
    ],
)
def test_tensor_types_map_to_their_datatype_and_numpy_dtype(ort_type: str, datatype: str, dtype: type) -> None:
    assert from_onnxruntime(ort_type) == datatype
    assert to_numpy(datatype) == np.dtype(dtype)
    assert is_oip_datatype(datatype)


@pytest.mark.parametrize(
    ("ort_type", "mentions"),
    [
        ("tensor(bfloat16)", "bfloat16"),
        ("tensor(complex64)", "complex64"),
        ("tensor(float8e4m3fn)", "float8e4m3fn"),
        ("seq(tensor(float))", "not a tensor"),
        ("map(string,tensor(float))", "not a tensor"),
        ("float", "not a tensor"),
        ("tensor(float", "not a tensor"),
        ("", "not a tensor"),
    ],
)
def test_types_without_a_datatype_raise_unsupported_type_error(ort_type: str, mentions: str) -> None:
    with pytest.raises(UnsupportedTypeError, match=mentions):
        from_onnxruntime(ort_type)


def test_unsupported_type_error_is_a_value_error() -> None:
    assert issubclass(UnsupportedTypeError, ValueError)


@pytest.mark.parametrize("name", ["FP32 ", "fp32", "FLOAT", "BF16", ""])
def test_other_names_are_not_datatypes(name: str) -> None:
    assert not is_oip_datatype(name)
