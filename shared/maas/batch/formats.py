"""Reading batch inputs row by row (JSONL, CSV, Parquet) and writing predictions in the same format.

Rows are read from a stream of bytes, never a whole file in memory: JSONL and CSV line by line, Parquet from a
file on local disk in record batches. Every data row gets an index (0-based; a malformed line counts) and an
id (its own, or the index). A row that cannot be read becomes an error row and the others go on; a file whose
columns cannot fit the model raises ``BatchInputError`` (the job FAILS with the reason).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson

from maas.domain import Signature, TensorSpec
from maas.domain.batch import BatchFormat


class BatchInputError(Exception):
    """The file as a whole cannot be run (unreadable, or columns that do not fit the model)."""


@dataclass(frozen=True)
class Row:
    index: int
    id: str
    inputs: dict[str, Any] | None = None
    error: str | None = None


class ChunkStream(io.RawIOBase):
    """A read-only binary stream over an iterator of byte chunks (an S3 body), for csv and TextIOWrapper."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._buffer = b""

    def readable(self) -> bool:
        return True

    def readinto(self, target: Any) -> int:
        while not self._buffer:
            try:
                self._buffer = next(self._chunks)
            except StopIteration:
                return 0
        size = min(len(target), len(self._buffer))
        target[:size] = self._buffer[:size]
        self._buffer = self._buffer[size:]
        return size


def _lines(chunks: Iterable[bytes]) -> Iterator[bytes]:
    pending = b""
    for chunk in chunks:
        pending += chunk
        *complete, pending = pending.split(b"\n")
        yield from complete
    if pending:
        yield pending


# --- reading -------------------------------------------------------------------------------------------------
def read_rows(
    fmt: BatchFormat, chunks: Iterable[bytes], signature: Signature, work_file: Path | None = None
) -> Iterator[Row]:
    if fmt == BatchFormat.JSONL:
        return _jsonl_rows(chunks, signature)
    if fmt == BatchFormat.CSV:
        return _csv_rows(chunks, signature)
    if work_file is None:
        raise ValueError("Parquet needs a local work file")
    with work_file.open("wb") as out:  # Parquet's footer comes last: read from disk, never from memory
        for chunk in chunks:
            out.write(chunk)
    return _parquet_rows(work_file, signature)


def _jsonl_rows(chunks: Iterable[bytes], signature: Signature) -> Iterator[Row]:
    names = {spec.name for spec in signature.inputs}
    index = 0
    for line in _lines(chunks):
        if not line.strip():
            continue
        row_index, index = index, index + 1
        try:
            doc = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            yield Row(row_index, str(row_index), error=f"not valid JSON: {exc}")
            continue
        if not isinstance(doc, dict) or not isinstance(doc.get("inputs"), dict):
            yield Row(row_index, str(row_index), error='a line is {"id"?, "inputs": {"<input name>": <row>}}')
            continue
        row_id = str(doc["id"]) if doc.get("id") is not None else str(row_index)
        inputs = doc["inputs"]
        missing, unknown = names - set(inputs), set(inputs) - names
        if missing or unknown:
            problem = f"missing inputs {sorted(missing)}" if missing else f"unknown inputs {sorted(unknown)}"
            yield Row(row_index, row_id, error=problem)
            continue
        yield Row(row_index, row_id, inputs=inputs)


def _scalar_inputs(signature: Signature) -> bool:
    return all(len(s.shape) == 1 or (len(s.shape) == 2 and s.shape[1] == 1) for s in signature.inputs)


def _vector_input(signature: Signature) -> TensorSpec | None:
    if len(signature.inputs) == 1 and len(signature.inputs[0].shape) == 2 and signature.inputs[0].shape[1] > 0:
        return signature.inputs[0]
    return None


def _number(text: str, spec: TensorSpec) -> Any:
    value = text.strip()
    if spec.datatype == "BOOL":
        if value.lower() in ("true", "1"):
            return True
        if value.lower() in ("false", "0"):
            return False
        raise ValueError(f"'{value}' is not a boolean")
    if spec.datatype.startswith(("INT", "UINT")):
        return int(value)
    if spec.datatype == "BYTES":
        return value
    number = float(value)
    if math.isnan(number) or math.isinf(number):
        raise ValueError(f"'{value}' is not a finite number")
    return number


class ColumnMapping:
    """How a table's columns feed a model: one column per scalar input, or feature columns for one 2-D input."""

    def __init__(self, header: list[str], signature: Signature) -> None:
        self.id_column = header.index("id") if "id" in header else None
        data = [i for i, name in enumerate(header) if i != self.id_column]
        names = [header[i] for i in data]
        self.by_name: dict[str, int] | None = None
        self.features: list[int] | None = None
        self.vector = _vector_input(signature)
        wanted = [s.name for s in signature.inputs]
        self.specs = {s.name: s for s in signature.inputs}
        if set(wanted) <= set(names):
            self.by_name = {name: header.index(name) for name in wanted}
        elif self.vector is not None and len(data) == self.vector.shape[1]:
            self.features = data
        else:
            expected = (
                f"{self.vector.shape[1]} feature columns for input '{self.vector.name}'"
                if self.vector is not None
                else f"one column per input: {', '.join(wanted)}"
            )
            raise BatchInputError(
                f"the columns ({', '.join(names) or 'none'}) do not fit the model: it takes {expected}, "
                "and an optional 'id' column"
            )

    def row(self, index: int, values: list[Any]) -> Row:
        row_id = (
            str(values[self.id_column])
            if self.id_column is not None and values[self.id_column] not in ("", None)
            else str(index)
        )
        try:
            if self.features is not None:
                assert self.vector is not None
                return Row(
                    index, row_id, inputs={self.vector.name: [_cell(values[i], self.vector) for i in self.features]}
                )
            assert self.by_name is not None
            return Row(index, row_id, inputs={n: _cell(values[i], self.specs[n]) for n, i in self.by_name.items()})
        except (ValueError, IndexError, TypeError) as exc:
            return Row(index, row_id, error=f"row {index}: {exc}")


def _cell(value: Any, spec: TensorSpec) -> Any:
    if isinstance(value, str):
        return _number(value, spec)
    if value is None:
        raise ValueError("an empty cell")
    return value


def _csv_rows(chunks: Iterable[bytes], signature: Signature) -> Iterator[Row]:
    text = io.TextIOWrapper(io.BufferedReader(ChunkStream(chunks)), encoding="utf-8", newline="")
    reader = csv.reader(text)
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise BatchInputError("the CSV file is empty: it needs a header row") from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise BatchInputError(f"the file is not readable as CSV: {exc}") from None
    mapping = ColumnMapping(header, signature)
    index = 0
    while True:
        try:
            values = next(reader)
        except StopIteration:
            return
        except (UnicodeDecodeError, csv.Error) as exc:
            yield Row(index, str(index), error=f"row {index} is not readable CSV: {exc}")
            index += 1
            continue
        if not values:
            continue
        if len(values) != len(header):
            yield Row(index, str(index), error=f"row {index} has {len(values)} cells; the header has {len(header)}")
        else:
            yield mapping.row(index, values)
        index += 1


def _parquet_rows(path: Path, signature: Signature) -> Iterator[Row]:
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(str(path))
    except Exception as exc:  # pyarrow raises ArrowInvalid and others for files that are not Parquet
        raise BatchInputError(f"the file is not readable as Parquet: {exc}") from exc
    header = list(parquet.schema_arrow.names)
    list_columns = [s.name for s in signature.inputs if s.name in header]
    index = 0
    if len(list_columns) == len(signature.inputs) and not _scalar_inputs(signature):
        id_present = "id" in header
        for batch in parquet.iter_batches(batch_size=1024, columns=list_columns + (["id"] if id_present else [])):
            columns = batch.to_pydict()
            for i in range(batch.num_rows):
                row_id = columns["id"][i] if id_present and columns["id"][i] is not None else index
                inputs = {name: columns[name][i] for name in list_columns}
                if any(v is None for v in inputs.values()):
                    yield Row(index, str(row_id), error=f"row {index} has an empty cell")
                else:
                    yield Row(index, str(row_id), inputs=inputs)
                index += 1
        return
    mapping = ColumnMapping(header, signature)
    for batch in parquet.iter_batches(batch_size=1024):
        columns = [batch.column(i).to_pylist() for i in range(batch.num_columns)]
        for i in range(batch.num_rows):
            yield mapping.row(index, [column[i] for column in columns])
            index += 1


# --- writing -------------------------------------------------------------------------------------------------
class PredictionWriter:
    """Predictions in the input's format, one row at a time, to a local file: ``id`` then each output."""

    def __init__(self, fmt: BatchFormat, path: Path) -> None:
        self.fmt = fmt
        self.path = path
        self.rows = 0
        self._file: IO[Any] | None = None
        self._csv: Any = None
        self._columns: list[tuple[str, int | None]] = []
        self._parquet: Any = None
        self._pending: list[tuple[str, dict[str, Any]]] = []

    def write(self, row_id: str, outputs: dict[str, Any]) -> None:
        self.rows += 1
        if self.fmt == BatchFormat.JSONL:
            if self._file is None:
                self._file = self.path.open("wb")
            self._file.write(orjson.dumps({"id": row_id, "outputs": outputs}) + b"\n")
        elif self.fmt == BatchFormat.CSV:
            if self._file is None:
                self._file = self.path.open("w", newline="", encoding="utf-8")
                self._csv = csv.writer(self._file)
                self._columns = [(n, len(_flat(v)) if isinstance(v, list) else None) for n, v in outputs.items()]
                header = ["id"]
                for name, width in self._columns:
                    header += [name] if width is None else [f"{name}_{j}" for j in range(width)]
                self._csv.writerow(header)
            cells: list[Any] = [row_id]
            for name, width in self._columns:
                value = outputs[name]
                cells += [value] if width is None else _flat(value)
            self._csv.writerow(cells)
        else:
            self._pending.append((row_id, outputs))
            if len(self._pending) >= 4096:
                self._flush_parquet()

    def _flush_parquet(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if not self._pending:
            return
        names = list(self._pending[0][1])
        table = pa.table({"id": [r for r, _ in self._pending], **{n: [o[n] for _, o in self._pending] for n in names}})
        if self._parquet is None:
            self._parquet = pq.ParquetWriter(str(self.path), table.schema)
        self._parquet.write_table(table.cast(self._parquet.schema))
        self._pending = []

    def close(self) -> None:
        if self.fmt == BatchFormat.PARQUET:
            self._flush_parquet()
            if self._parquet is not None:
                self._parquet.close()
            elif not self.path.exists():
                import pyarrow as pa
                import pyarrow.parquet as pq

                pq.write_table(pa.table({"id": pa.array([], pa.string())}), str(self.path))
        elif self._file is not None:
            self._file.close()
        else:
            self.path.write_bytes(b"id\n" if self.fmt == BatchFormat.CSV else b"")


def _flat(value: Any) -> list[Any]:
    if isinstance(value, list):
        return [x for item in value for x in _flat(item)]
    return [value]


def json_line(doc: dict[str, Any]) -> bytes:
    return orjson.dumps(doc) + b"\n"


def parse_json_lines(chunks: Iterable[bytes]) -> Iterator[dict[str, Any]]:
    for line in _lines(chunks):
        if line.strip():
            doc: dict[str, Any] = orjson.loads(line)
            yield doc
