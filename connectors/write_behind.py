"""Write Parquet on a second thread while the next chunk is read.

Landing is parsing (Arrow, one thread) then encoding, compressing and encrypting (Parquet, one
thread). Both release the GIL, so handing each finished chunk to a writer thread overlaps them on
two cores. The queue holds one chunk: memory stays a few chunks, the reader waits when the
writer falls behind, and a writer failure stops the reader at its next chunk.
"""
from __future__ import annotations

import queue
import threading
from types import TracebackType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.parquet as pq

_DONE = object()


class WriteBehind:
    """`write(table)` returns once the writer thread has taken the previous table; leaving the
    `with` block waits for the last write (or, after an error, for the thread to stop)."""

    def __init__(self, writer: pq.ParquetWriter) -> None:
        self._writer = writer
        self._queue: queue.Queue = queue.Queue(maxsize=1)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="kcdata-land-writer", daemon=True)

    def __enter__(self) -> WriteBehind:
        self._thread.start()
        return self

    def write(self, table: pa.Table) -> None:
        self._raise()
        while self._thread.is_alive():
            try:
                self._queue.put(table, timeout=0.5)
                return
            except queue.Full:
                self._raise()
        self._raise()
        raise RuntimeError("the Parquet writer thread stopped before the last chunk")

    def __exit__(self, kind: type | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._stop()
        if kind is None:
            self._raise()

    def _stop(self) -> None:
        while self._thread.is_alive():
            try:
                self._queue.put(_DONE, timeout=0.5)
                break
            except queue.Full:
                continue
        self._thread.join()

    def _run(self) -> None:
        while True:
            table = self._queue.get()
            if table is _DONE:
                return
            if self._error is not None:
                continue  # drain without writing: the landing is failing anyway
            try:
                self._writer.write_table(table)
            except BaseException as exc:  # noqa: BLE001 - handed to the reading thread
                self._error = exc

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error
