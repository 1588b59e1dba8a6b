"""Large DataFrames as Metaflow artifacts: pickled as one zstd-compressed Arrow IPC stream.

Metaflow pickles every artifact and gzips the bytes (level 3). A cut's feature table (~2M rows x 110 float32
columns on the `default` preset) pickles to ~900 MB, which gzip takes ~8-10 s to compress and ~6-7 s to
decompress, in every step that saves or loads it. Packed with Arrow's zstd first, the same table is ~85 MB,
written in ~2 s and read in ~2 s, and gzip has little left to do (measured in docs/performance.md).
"""

from __future__ import annotations

import pandas as pd


class PackedFrame:
    """A DataFrame that pickles compactly (the values, dtypes and index come back exactly); ``.frame`` is the
    DataFrame."""

    def __init__(self, frame: pd.DataFrame):
        if not isinstance(frame, pd.DataFrame):
            raise TypeError(f"PackedFrame holds a pandas DataFrame, got {type(frame).__name__}")
        self.frame = frame

    def __len__(self) -> int:
        return len(self.frame)

    def __repr__(self) -> str:
        rows, cols = self.frame.shape
        return f"PackedFrame({rows:,} rows x {cols} columns)"

    def __getstate__(self) -> dict:
        import pyarrow as pa

        table = pa.Table.from_pandas(self.frame)  # a RangeIndex is kept as metadata, any other index as columns
        sink = pa.BufferOutputStream()
        options = pa.ipc.IpcWriteOptions(compression="zstd")
        with pa.ipc.new_stream(sink, table.schema, options=options) as writer:
            writer.write_table(table)
        return {"arrow_ipc_zstd": sink.getvalue().to_pybytes()}

    def __setstate__(self, state: dict) -> None:
        import pyarrow as pa

        self.frame = pa.ipc.open_stream(state["arrow_ipc_zstd"]).read_all().to_pandas()
