"""Small real videos for the tracker tests, written by gymscope's own encoder."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gymscope.video.encoder import Encoder


def write_video(path: Path, frames: int = 6) -> Path:
    """An MP4 or GIF (by ``path``'s suffix) of ``frames`` 32x24 frames, each
    a different grey, as gymscope's VideoSink writes them."""
    fmt = path.suffix.lstrip(".")
    assert fmt in ("mp4", "gif"), path
    images = [np.full((24, 32, 3), 40 * i, dtype=np.uint8) for i in range(frames)]
    encoder = Encoder(images[0], str(path), fmt, fps=10.0, scale=1.0)  # type: ignore[arg-type]
    for image in images:
        encoder.write(image)
    assert encoder.finish()
    return path
