"""Reading batch rows (JSONL, CSV, Parquet) as streams, and writing predictions."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st

from maas.batch.formats import BatchInputError, PredictionWriter, read_rows
from maas.batch.predict import predict_rows
from maas.domain import Signature
from maas.domain.batch import BatchFormat, inbox_key, parse_inbox_key

VECTOR = Signature.model_validate(
    {
        "inputs": [{"name": "x", "datatype": "FP32", "shape": [-1, 3]}],
        "outputs": [{"name": "y", "datatype": "FP32", "shape": [-1, 2]}],
    }
)
SCALARS = Signature.model_validate(
    {
        "inputs": [
            {"name": "age", "datatype": "INT64", "shape": [-1]},
            {"name": "score", "datatype": "FP32", "shape": [-1, 1]},
        ],
        "outputs": [{"name": "y", "datatype": "FP32", "shape": [-1]}],
    }
)


def chunks(data: bytes, size: int = 7) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def test_jsonl_rows_keep_their_index_and_id_across_chunk_borders() -> None:
    data = b'{"id": "a", "inputs": {"x": [1, 2, 3]}}\n\n{broken\n{"inputs": {"x": [4, 5, 6]}}\n{"inputs": {"z": 1}}'
    rows = list(read_rows(BatchFormat.JSONL, chunks(data), VECTOR))
    assert [(r.index, r.id, r.inputs, r.error is not None) for r in rows] == [
        (0, "a", {"x": [1, 2, 3]}, False),
        (1, "1", None, True),
        (2, "2", {"x": [4, 5, 6]}, False),
        (3, "3", None, True),
    ]
    assert "unknown inputs" in (rows[3].error or "") or "missing" in (rows[3].error or "")


def test_csv_feature_columns_for_one_vector_input() -> None:
    data = b"id,a,b,c\nr1,1,2,3\nr2,4,x,6\nr3,7,8\n,1,1,1\n"
    rows = list(read_rows(BatchFormat.CSV, chunks(data, 5), VECTOR))
    assert rows[0].inputs == {"x": [1.0, 2.0, 3.0]}
    assert rows[0].id == "r1"
    assert rows[1].error is not None  # 'x' is no number
    assert rows[2].error is not None  # a cell short
    assert rows[3].id == "3"  # an empty id: the row number


def test_csv_one_column_per_scalar_input() -> None:
    rows = list(read_rows(BatchFormat.CSV, [b"score,age\n0.5,41\n"], SCALARS))
    assert rows[0].inputs == {"age": 41, "score": 0.5}


def test_csv_columns_that_do_not_fit_are_a_file_error() -> None:
    with pytest.raises(BatchInputError, match="3 feature columns"):
        list(read_rows(BatchFormat.CSV, [b"a,b\n1,2\n"], VECTOR))
    with pytest.raises(BatchInputError, match="header"):
        list(read_rows(BatchFormat.CSV, [b""], VECTOR))


def test_parquet_list_columns_and_feature_columns(tmp_path: Path) -> None:
    listed = tmp_path / "list.parquet"
    pq.write_table(pa.table({"id": ["p", "q"], "x": [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]}), listed)
    rows = list(read_rows(BatchFormat.PARQUET, [listed.read_bytes()], VECTOR, tmp_path / "work1"))
    assert [(r.id, r.inputs) for r in rows] == [("p", {"x": [1.0, 2.0, 3.0]}), ("q", {"x": [4.0, 5.0, 6.0]})]
    flat = tmp_path / "flat.parquet"
    pq.write_table(pa.table({"a": [1.0], "b": [2.0], "c": [3.0]}), flat)
    rows = list(read_rows(BatchFormat.PARQUET, [flat.read_bytes()], VECTOR, tmp_path / "work2"))
    assert [(r.id, r.inputs) for r in rows] == [("0", {"x": [1.0, 2.0, 3.0]})]
    with pytest.raises(BatchInputError, match="Parquet"):
        list(read_rows(BatchFormat.PARQUET, [b"not parquet"], VECTOR, tmp_path / "work3"))


@pytest.mark.parametrize("fmt", list(BatchFormat))
def test_prediction_writers_round_trip(fmt: BatchFormat, tmp_path: Path) -> None:
    path = tmp_path / f"p.{fmt.value}"
    writer = PredictionWriter(fmt, path)
    writer.write("a", {"y": [1.5, 2.5]})
    writer.write("b", {"y": [3.5, 4.5]})
    writer.close()
    if fmt == BatchFormat.JSONL:
        assert [json.loads(line) for line in path.read_text().splitlines()] == [
            {"id": "a", "outputs": {"y": [1.5, 2.5]}},
            {"id": "b", "outputs": {"y": [3.5, 4.5]}},
        ]
    elif fmt == BatchFormat.CSV:
        assert list(csv.reader(io.StringIO(path.read_text()))) == [
            ["id", "y_0", "y_1"],
            ["a", "1.5", "2.5"],
            ["b", "3.5", "4.5"],
        ]
    else:
        assert pq.read_table(path).to_pydict() == {"id": ["a", "b"], "y": [[1.5, 2.5], [3.5, 4.5]]}


@given(
    tenant=st.from_regex(r"[a-z][a-z0-9-]{1,10}[a-z0-9]", fullmatch=True),
    model=st.from_regex(r"[a-z0-9][a-z0-9_-]{0,20}", fullmatch=True),
    ref=st.one_of(st.integers(1, 10**6).map(str), st.from_regex(r"[a-z][a-z0-9_-]{0,10}", fullmatch=True)),
    name=st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,20}", fullmatch=True),
    fmt=st.sampled_from(list(BatchFormat)),
)
def test_inbox_keys_round_trip(tenant: str, model: str, ref: str, name: str, fmt: BatchFormat) -> None:
    parsed = parse_inbox_key(inbox_key(tenant, model, ref, name, fmt))
    assert parsed is not None
    assert (parsed.tenant_id, parsed.model, parsed.ref, parsed.name, parsed.format) == (tenant, model, ref, name, fmt)


def test_keys_outside_the_layout_are_not_jobs() -> None:
    assert parse_inbox_key("batch/acme/m/1/x.txt") is None
    assert parse_inbox_key("batch/acme/m/x.jsonl") is None
    assert parse_inbox_key("other/acme/m/1/x.jsonl") is None
    assert parse_inbox_key("batch/acme/owner-1.m/production/x.csv") is not None


class Doubling:
    """A backend that doubles its input and refuses a batch holding a 13."""

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        x = inputs["x"]
        if (x == 13).any():
            raise ValueError("thirteen")
        return {"y": x[:, :2] * 2}


def predict(rows: list[dict[str, object]]) -> list[dict[str, object]]:
    return predict_rows(Doubling(), VECTOR, rows)


def test_rows_that_fit_run_together_and_keep_their_order() -> None:
    rows = [{"row": i, "id": f"r{i}", "inputs": {"x": [i, i, i]}} for i in range(5)]
    assert predict(rows) == [{"row": i, "id": f"r{i}", "outputs": {"y": [2.0 * i, 2.0 * i]}} for i in range(5)]


def test_a_row_that_does_not_fit_or_breaks_the_model_fails_alone() -> None:
    rows = [
        {"row": 0, "id": "a", "inputs": {"x": [1, 1, 1]}},
        {"row": 1, "id": "b", "inputs": {"x": [1, 1]}},  # the wrong length
        {"row": 2, "id": "c", "inputs": {"x": [13, 0, 0]}},  # the model refuses it
        {"row": 3, "id": "d", "inputs": {"x": [2, 2, 2]}},
    ]
    results = predict(rows)
    assert [r["id"] for r in results] == ["a", "b", "c", "d"]
    assert results[0]["outputs"] == {"y": [2.0, 2.0]}
    assert "shape" in str(results[1]["error"])
    assert "thirteen" in str(results[2]["error"])
    assert results[3]["outputs"] == {"y": [4.0, 4.0]}
