"""A chunk's facts parked on disk between the fetch from Meta and the write.

The sync fetches a whole chunk before it opens a transaction (runner.py); a chunk of 31 days
of a 5,000-ad account is 155,000 daily rows, or more for hourly ones. Parking them in a
temporary file, a batch of pickled facts at a time, keeps the process's memory as flat as it
was when facts streamed from Meta straight into the ingest service. The file is the
process's own (unnamed, removed when closed) and holds only what it wrote itself.
"""

from __future__ import annotations

import pickle
import tempfile
from collections.abc import Iterable, Iterator
from typing import IO

from metricx.facts.types import FactInput

BATCH = 2000


class FactSpool:
    """Append facts, then read them back once, in order."""

    def __init__(self) -> None:
        self._file: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 (closed by close())
        self._batch: list[FactInput] = []
        self.count = 0

    def extend(self, facts: Iterable[FactInput]) -> None:
        for fact in facts:
            self._batch.append(fact)
            self.count += 1
            if len(self._batch) >= BATCH:
                self._flush()

    def _flush(self) -> None:
        if self._batch:
            pickle.dump(self._batch, self._file, protocol=pickle.HIGHEST_PROTOCOL)
            self._batch = []

    def __iter__(self) -> Iterator[FactInput]:
        self._flush()
        self._file.seek(0)
        while True:
            try:
                batch: list[FactInput] = pickle.load(self._file)
            except EOFError:
                return
            yield from batch

    def close(self) -> None:
        self._file.close()
