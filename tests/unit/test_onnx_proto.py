"""The protobuf walk that finds external data anywhere in an ONNX model, before any runtime loads it."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

from maas.backends.onnx import ExternalDataError, check_self_contained
from maas.backends.onnx_proto import OnnxProtoError, external_tensors, scan


def external(name: str = "w", location: str = "local.env", dtype: type = np.int64) -> TensorProto:
    tensor = numpy_helper.from_array(np.zeros(2, dtype), name)
    tensor.ClearField("raw_data")
    tensor.data_location = TensorProto.EXTERNAL
    entry = tensor.external_data.add()
    entry.key, entry.value = "location", location
    return tensor


def value(name: str, elem: int = TensorProto.INT64, shape: list | None = None) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, elem, shape if shape is not None else [2])


def model(graph: onnx.GraphProto, **kwargs: object) -> bytes:
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], **kwargs).SerializeToString()


def identity_graph(name: str = "g", **kwargs: object) -> onnx.GraphProto:
    return helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], name, [value("x")], [value("y")], **kwargs)


def test_a_self_contained_model_has_no_external_tensors() -> None:
    inline = numpy_helper.from_array(np.arange(2, dtype=np.int64), "w")
    assert scan(model(identity_graph(initializer=[inline]))) == ([], [])


def test_an_initializer_with_external_data_is_found_with_its_place_and_file() -> None:
    found = external_tensors(model(identity_graph(initializer=[external("w", "local.env")])))
    assert [(t.where, t.name, t.location) for t in found] == [("graph.initializer[0]", "w", "local.env")]


def test_external_data_is_found_in_sparse_initializers() -> None:
    sparse = helper.make_sparse_tensor(external("values", "a.bin", np.float32), external("indices", "b.bin"), [4])
    found = external_tensors(model(identity_graph(sparse_initializer=[sparse])))
    assert {t.location for t in found} == {"a.bin", "b.bin"}
    assert {t.where for t in found} == {"graph.sparse_initializer[0].values", "graph.sparse_initializer[0].indices"}


def test_external_data_is_found_in_node_attributes_and_subgraphs_at_any_depth() -> None:
    constant = helper.make_node("Constant", [], ["c"], value=external("c", "deep.bin"))
    inner = helper.make_graph([constant], "inner", [], [value("c")])
    middle = helper.make_graph(
        [helper.make_node("If", ["b"], ["c"], then_branch=inner, else_branch=inner)], "middle", [], [value("c")]
    )
    outer = helper.make_graph(
        [helper.make_node("If", ["b"], ["c"], then_branch=middle, else_branch=identity_graph("e"))],
        "outer",
        [value("b", TensorProto.BOOL, [])],
        [value("c")],
    )
    found = external_tensors(model(outer))
    assert len(found) == 2  # both branches of the inner If
    assert all(t.location == "deep.bin" for t in found)
    # attributes are sorted by name: else_branch is [0], then_branch [1]
    assert found[0].where == "graph.node[0].attribute[1].g.node[0].attribute[0].g.node[0].attribute[0].t"


def test_external_data_is_found_in_attribute_tensor_lists() -> None:
    node = helper.make_node("Custom", [], ["y"], domain="x", tensors=[external("a", "1.bin"), external("b", "2.bin")])
    graph = helper.make_graph([node], "g", [], [value("y")])
    assert [t.location for t in external_tensors(model(graph))] == ["1.bin", "2.bin"]


def test_external_data_is_found_in_model_local_functions_and_training_graphs() -> None:
    body = helper.make_node("Constant", [], ["c"], value=external("c", "fn.bin"))
    function = helper.make_function("local", "f", [], ["c"], [body], [helper.make_opsetid("", 17)])
    training = onnx.TrainingInfoProto()
    training.algorithm.CopyFrom(identity_graph("train", initializer=[external("t", "train.bin")]))
    proto = helper.make_model(identity_graph(), opset_imports=[helper.make_opsetid("", 17)], functions=[function])
    proto.training_info.append(training)
    found = external_tensors(proto.SerializeToString())
    assert {(t.where, t.location) for t in found} == {
        ("functions[0].node[0].attribute[0].t", "fn.bin"),
        ("training_info[0].algorithm.initializer[0]", "train.bin"),
    }


def test_a_location_flag_alone_or_an_entry_alone_is_external() -> None:
    flagged = numpy_helper.from_array(np.zeros(2, np.int64), "flag")
    flagged.data_location = TensorProto.EXTERNAL
    entry_only = numpy_helper.from_array(np.zeros(2, np.int64), "entry")
    item = entry_only.external_data.add()
    item.key, item.value = "location", "x.bin"
    found = external_tensors(model(identity_graph(initializer=[flagged, entry_only])))
    assert [(t.name, t.location) for t in found] == [("flag", None), ("entry", "x.bin")]


def test_ep_context_nodes_that_read_their_own_files_are_found() -> None:
    node = helper.make_node("EPContext", ["x"], ["y"], domain="com.microsoft", ep_cache_context="cache.bin")
    graph = helper.make_graph([node], "g", [value("x")], [value("y")])
    _, nodes = scan(model(graph))
    assert [n.op_type for n in nodes] == ["EPContext"]
    with pytest.raises(ExternalDataError, match="EPContext"):
        check_self_contained(model(graph))


def test_the_refusal_names_external_data_and_the_fix_but_no_file_contents() -> None:
    with pytest.raises(ExternalDataError) as refused:
        check_self_contained(model(identity_graph(initializer=[external("w", "local.env")])))
    message = str(refused.value)
    assert "external data" in message
    assert "maas models register" in message
    assert "'w'" in message


def test_a_bundle_may_name_its_own_files_only() -> None:
    data = model(identity_graph(initializer=[external("w", "weights.bin"), external("v", "../escape.bin")]))
    with pytest.raises(ExternalDataError, match="1 tensor"):
        check_self_contained(data, allowed=["weights.bin"])
    check_self_contained(model(identity_graph(initializer=[external("w", "weights.bin")])), allowed=["weights.bin"])


@pytest.mark.parametrize(
    "raw",
    [b"\x0a\xff\xff\xff\xff\x0f", b"\x3a\x05abc", b"\x0b", b"\x00\x01", b"\x80"],
    ids=["length-past-end", "graph-past-end", "group", "field-zero", "truncated-varint"],
)
def test_malformed_protobuf_is_refused(raw: bytes) -> None:
    with pytest.raises(OnnxProtoError):
        scan(raw)


def _field(number: int, payload: bytes) -> bytes:
    """One length-delimited protobuf field (lengths here stay under 2**14: a two-byte varint at most)."""
    length = len(payload)
    varint = bytes([length]) if length < 0x80 else bytes([(length & 0x7F) | 0x80, length >> 7])
    return bytes([number << 3 | 2]) + varint + payload


def test_nesting_deeper_than_the_limit_is_refused() -> None:
    # graph.node.attribute.g, 30 times: 90 nested messages (the protobuf library itself stops near 100)
    graph = b""
    for _ in range(30):
        graph = _field(1, _field(5, _field(6, graph)))
    with pytest.raises(OnnxProtoError, match="deeper"):
        scan(_field(7, graph))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=256))
def test_arbitrary_bytes_either_scan_or_are_malformed(raw: bytes) -> None:
    try:
        scan(raw)
    except OnnxProtoError:
        pass
