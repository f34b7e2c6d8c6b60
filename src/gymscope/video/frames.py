"""Video frames: the layouts accepted, and the size of the file they make.

Frames are ``uint8`` arrays of shape ``(H, W, 3)`` (RGB), ``(H, W, 4)``
(RGBA), ``(H, W)`` or ``(H, W, 1)`` (grayscale). H.264 in yuv420p needs even
sizes and some players refuse tiny videos, so MP4 frames are padded with
black at the right and bottom up to even sides of at least 16 pixels.

>>> import numpy as np
>>> frame_layout(np.zeros((5, 7, 3), dtype=np.uint8))
(5, 7, 3)
>>> output_size((7, 5), "mp4", 1.0), output_size((600, 400), "gif", 0.5)
((16, 16), (300, 200))
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from gymscope._checks import check_number
from gymscope.errors import ArgumentTypeError, InvalidArgumentError

__all__ = ["PIX_FMT", "VideoFormat", "check_scale", "frame_layout", "output_size", "scaled_size"]

#: The file formats gymscope writes.
VideoFormat = Literal["mp4", "gif"]

#: ffmpeg's raw pixel format for each channel count.
PIX_FMT = {1: "gray", 3: "rgb24", 4: "rgba"}
# H.264 in yuv420p needs even sizes; below 16 px some players refuse the file.
_MP4_MIN_SIDE = 16


def frame_layout(frame: object) -> tuple[int, int, int]:
    """``(height, width, channels)`` of a valid frame, else a clear error."""
    if not isinstance(frame, np.ndarray):
        raise ArgumentTypeError(
            f"env.render() returned {type(frame).__name__}, not a NumPy image; "
            'make the env with render_mode="rgb_array"'
        )
    if frame.dtype != np.uint8:
        raise ArgumentTypeError(
            f"video frames must be uint8 images, env.render() returned dtype {frame.dtype} "
            f"(shape {frame.shape}); convert in the env, e.g. "
            "(np.clip(frame, 0, 1) * 255).astype(np.uint8)"
        )
    if frame.ndim == 2:
        (height, width), channels = frame.shape, 1
    elif frame.ndim == 3 and frame.shape[2] in PIX_FMT:
        height, width, channels = frame.shape
    else:
        raise InvalidArgumentError(
            f"video frames must have shape (H, W, 3) (RGB), (H, W, 4) (RGBA) or (H, W) "
            f"(grayscale); env.render() returned shape {frame.shape}"
        )
    if height < 1 or width < 1:
        raise InvalidArgumentError(
            f"video frames must not be empty; env.render() returned {frame.shape}"
        )
    return height, width, channels


def check_scale(scale: object) -> float:
    """Validate a resize factor: a real number in (0, 8]."""
    return check_number(
        "scale",
        scale,
        low=0.0,
        high=8.0,
        what="a float in (0, 8] (1.0 keeps the rendered size, 0.5 halves width and height)",
    )


def scaled_size(size: tuple[int, int], scale: float) -> tuple[int, int]:
    """``(width, height)`` of frames of ``size`` resized by ``scale`` (at least 1 px)."""
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))


def output_size(size: tuple[int, int], fmt: VideoFormat, scale: float) -> tuple[int, int]:
    """``(width, height)`` of the file made from frames of ``size``: scaled, then,
    for MP4, padded to even sides of at least 16 pixels."""
    width, height = scaled_size(size, scale)
    if fmt != "mp4":
        return width, height
    return _even_at_least(width, _MP4_MIN_SIDE), _even_at_least(height, _MP4_MIN_SIDE)


def _even_at_least(value: int, minimum: int) -> int:
    return max(minimum, value + value % 2)
