"""Large DataFrames as Metaflow artifacts: pickled as one zstd-compressed Arrow IPC stream.

Metaflow pickles every artifact and gzips the bytes (level 3). A cut's feature table (~2M rows x 110 float32
columns on the `default` preset) pickles to ~900 MB, which gzip takes ~8-10 s to compress and ~6-7 s to
decompress, in every step that saves or loads it. Packed with Arrow's zstd first, the same table is ~85 MB,
written in ~2 s and read in ~2 s, and gzip has little left to do (measured in docs/performance.md).
"""

from __future__ import annotations

import pandas as pd


def to_pandas(table) -> pd.DataFrame:
    """An Arrow table as a DataFrame that takes over its buffers: one block per column, each column's Arrow memory
    freed as it is converted, numeric columns without nulls not copied at all (a full@4 shard table: 1.6 GB of
    memory and 0.4 s instead of 2.9 GB and 3.1 s). The caller must hold no other reference to ``table``; the
    columns may be read-only (nothing modifies a decoded table in place)."""
    return table.to_pandas(split_blocks=True, self_destruct=True)


def release_unused() -> None:
    """Give back to the OS the memory Arrow's allocator kept when decoded tables were freed (it keeps it for reuse:
    the ``final`` step's shard tables, once scored, left 1.3 GB resident at ``full@4`` while the step went on to
    read the log; decoding the ``full@4`` log leaves 0.4 GB)."""
    import pyarrow as pa

    pa.default_memory_pool().release_unused()


class PackedFrame:
    """A DataFrame that pickles compactly (the values, dtypes and index come back exactly); ``.frame`` is the
    DataFrame. An unpickled one decodes on first use of ``.frame``, and :meth:`select` decodes only the columns it
    is asked for (what a step that reads a few columns of a wide table needs)."""

    def __init__(self, frame: pd.DataFrame):
        if not isinstance(frame, pd.DataFrame):
            raise TypeError(f"PackedFrame holds a pandas DataFrame, got {type(frame).__name__}")
        self._frame: pd.DataFrame | None = frame
        self._packed: bytes | None = None

    @property
    def frame(self) -> pd.DataFrame:
        if self._frame is None:
            import pyarrow as pa

            self._frame = to_pandas(pa.ipc.open_stream(self._packed).read_all())
            release_unused()  # the decompressed batches Arrow freed while converting
        return self._frame

    def select(self, columns) -> pd.DataFrame:
        """The frame's ``columns`` (those it has, in its order) and its index; from the packed bytes, only these
        columns are decoded."""
        wanted = set(columns)
        if self._frame is not None:
            return self._frame[[c for c in self._frame.columns if c in wanted]]
        import pyarrow as pa

        schema = pa.ipc.open_stream(self._packed).schema
        index = {c for c in (schema.pandas_metadata or {}).get("index_columns", []) if isinstance(c, str)}
        fields = [i for i, name in enumerate(schema.names) if name in wanted or name in index]
        options = pa.ipc.IpcReadOptions(included_fields=fields)
        frame = to_pandas(pa.ipc.open_stream(self._packed, options=options).read_all())
        release_unused()
        return frame

    def __len__(self) -> int:
        return len(self.frame)

    def __repr__(self) -> str:
        rows, cols = self.frame.shape
        return f"PackedFrame({rows:,} rows x {cols} columns)"

    def __getstate__(self) -> dict:
        if self._frame is None:  # unpickled and never decoded (so never changed): the same bytes again
            return {"arrow_ipc_zstd": self._packed}
        import pyarrow as pa

        table = pa.Table.from_pandas(self._frame)  # a RangeIndex is kept as metadata, any other index as columns
        sink = pa.BufferOutputStream()
        options = pa.ipc.IpcWriteOptions(compression="zstd")
        with pa.ipc.new_stream(sink, table.schema, options=options) as writer:
            writer.write_table(table)
        return {"arrow_ipc_zstd": sink.getvalue().to_pybytes()}

    def __setstate__(self, state: dict) -> None:
        self._frame, self._packed = None, state["arrow_ipc_zstd"]
