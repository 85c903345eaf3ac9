"""A long video's extraction in time chunks that run in parallel, and their stitching into one file.

A chunk keeps the frames whose time (the video's one frame clock) falls in its span, and starts
detecting ``overlap_seconds`` earlier: MediaPipe tracks from frame to frame, and by the chunk's
first kept frame its tracking has settled as it would have in one run; those settling frames also
give the first kept frame its predecessor (hand speeds) and carried object boxes. The stitched file
has the schema of one run, every frame exactly once, in order, with the frame indices and ``t`` the
decoder clock gave them.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import InputError
from .extraction import METADATA_KEY, FrameRange, read_features_metadata
from .files import atomic_path


@dataclass(frozen=True)
class Chunk:
    index: int
    start: int  # first kept frame
    stop: int  # one past the last kept frame
    settle: int  # first frame detected (start - overlap)

    @property
    def frames(self) -> FrameRange:
        return FrameRange(start=self.start, stop=self.stop, settle=self.settle)

    @property
    def kept(self) -> int:
        return self.stop - self.start

    @property
    def processed(self) -> int:
        return self.stop - self.settle


def plan_chunks(*, times: np.ndarray, chunk_seconds: float, overlap_seconds: float) -> list[Chunk]:
    """Chunks of ``chunk_seconds`` over a video whose frame ``i`` is at ``times[i]`` (seconds).

    One chunk (the whole video) when ``chunk_seconds`` is 0 or the video is not longer than it. A
    last piece shorter than half a chunk joins the chunk before it (a chunk costs its settling).
    """
    times = np.asarray(times, np.float64)
    count = len(times)
    if count == 0:
        raise InputError("the video has no frames")
    if chunk_seconds < 0 or overlap_seconds < 0:
        raise InputError("chunk length and overlap must not be negative")
    first, duration = float(times[0]), float(times[-1] - times[0])
    if not chunk_seconds or duration <= chunk_seconds:
        return [Chunk(index=0, start=0, stop=count, settle=0)]
    bounds = [0]
    edge = first + chunk_seconds
    while edge < times[-1]:
        start = int(np.searchsorted(times, edge, side="left"))
        if start > bounds[-1]:
            bounds.append(start)
        edge += chunk_seconds
    if len(bounds) > 1 and times[-1] - times[bounds[-1]] < chunk_seconds / 2:
        bounds.pop()
    bounds.append(count)
    chunks = []
    for i, (start, stop) in enumerate(zip(bounds[:-1], bounds[1:], strict=True)):
        settle = int(np.searchsorted(times, times[start] - overlap_seconds, side="left")) if start else 0
        chunks.append(Chunk(index=i, start=start, stop=stop, settle=min(settle, start)))
    return chunks


def stitch_chunks(paths: list[str | os.PathLike], output: str | os.PathLike, *, sample_rate: int = 1) -> dict:
    """Concatenate chunk feature files (in chunk order) into ``output``, written atomically.

    Refuses (InputError) unless the chunks' schemas agree and their frames follow one another:
    every ``sample_rate``-th frame from 0, once, in order. Returns the stitched file's metadata
    (the last chunk's, which knows how many frames the video decoded).
    """
    import pyarrow.parquet as pq

    if not paths:
        raise InputError("no chunks to stitch")
    schema = None
    expected = 0
    metadata: dict = {}
    output = Path(output)
    with atomic_path(output) as tmp:
        writer = None
        try:
            for path in paths:
                source = pq.ParquetFile(path)
                if schema is None:
                    schema = source.schema_arrow
                    writer = pq.ParquetWriter(tmp, schema, compression="zstd")
                elif source.schema_arrow.names != schema.names:
                    raise InputError(f"chunk {Path(path).name} has other columns than the first chunk")
                for group in range(source.num_row_groups):
                    table = source.read_row_group(group).cast(schema)
                    frames = table.column("frame_index").to_numpy()
                    wanted = expected + sample_rate * np.arange(len(frames))
                    if not np.array_equal(frames, wanted):
                        raise InputError(
                            f"chunk {Path(path).name} does not continue the frames before it "
                            f"(expected frame {expected}, found {frames[0] if len(frames) else 'none'})"
                        )
                    expected += sample_rate * len(frames)
                    writer.write_table(table, row_group_size=len(frames))
                metadata = read_features_metadata(path)
            metadata = {**metadata, "chunks": len(paths)}
            writer.add_key_value_metadata({METADATA_KEY: json.dumps(metadata)})
        finally:
            if writer is not None:
                writer.close()
    return metadata
