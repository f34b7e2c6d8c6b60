"""Render a :class:`~gymscope.charts.layout.ChartLayout` as a PNG with Pillow.

The chart is painted at twice the output resolution and scaled down by
averaging each 2x2 block, which anti-aliases lines and text (Pillow draws
neither smoothly on its own). Each series is painted opaque on its own transparent
layer, which is then faded to the series' opacity and composited: like an SVG
``stroke-opacity``, a line crossing itself does not get darker. Grid and axis
lines are snapped to whole output pixels so they stay sharp.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw

from gymscope.charts.layout import (
    AXIS_COLOR,
    BACKGROUND,
    GRID_COLOR,
    ChartLayout,
    TextItem,
    font,
)
from gymscope.errors import InvalidArgumentError

__all__ = ["render_png", "render_png_image"]

_SUPERSAMPLE = 2
_ANCHORS = {"start": "l", "middle": "m", "end": "r"}


def _rgb(color: str) -> tuple[int, int, int]:
    return int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16)


def _draw_text(image: Image.Image, item: TextItem, s: float) -> None:
    face = font(item.size * s, item.text)
    fill = _rgb(item.color)
    stroke = max(1, round(0.35 * s)) if item.bold else 0
    if not item.vertical:
        ImageDraw.Draw(image).text(
            (item.x * s, item.y * s),
            item.text,
            fill=fill,
            font=face,
            anchor=_ANCHORS[item.anchor] + "m",
            stroke_width=stroke,
            stroke_fill=fill,
        )
        return
    # Rotated text: draw it horizontally on its own layer, turn it, paste it.
    box = ImageDraw.Draw(image).textbbox((0, 0), item.text, font=face, anchor="lm")
    pad = 4
    w, h = int(box[2] - box[0]) + 2 * pad, int(box[3] - box[1]) + 2 * pad
    layer = Image.new("RGBA", (max(1, w), max(1, h)), (*fill, 0))
    ImageDraw.Draw(layer).text(
        (pad - box[0], pad - box[1]), item.text, fill=(*fill, 255), font=face, anchor="lm"
    )
    turned = layer.rotate(90, expand=True)
    corner = (round(item.x * s - turned.width / 2), round(item.y * s - turned.height / 2))
    image.paste(turned, corner, turned)


def render_png_image(layout: ChartLayout, scale: float = 1.0) -> Image.Image:
    """The chart as an RGB :class:`PIL.Image.Image` of ``scale`` times its size."""
    if not 0.25 <= scale <= 8:
        raise InvalidArgumentError(f"scale must be in [0.25, 8], got {scale!r}")
    s = scale * _SUPERSAMPLE
    out_w, out_h = round(layout.width * scale), round(layout.height * scale)
    # Work in whole supersampled pixels per output pixel, so snapping is exact.
    W, H = out_w * _SUPERSAMPLE, out_h * _SUPERSAMPLE
    image = Image.new("RGBA", (W, H), (*_rgb(BACKGROUND), 255))
    draw = ImageDraw.Draw(image)
    left, top, right, bottom = (v * s for v in layout.plot)
    unit = _SUPERSAMPLE  # one output pixel

    def hline(y: float, x0: float, x1: float, color: str) -> None:
        row = int(y // unit) * unit
        draw.rectangle((round(x0), row, round(x1) - 1, row + unit - 1), fill=_rgb(color))

    def vline(x: float, y0: float, y1: float, color: str) -> None:
        col = int(x // unit) * unit
        draw.rectangle((col, round(y0), col + unit - 1, round(y1) - 1), fill=_rgb(color))

    for py in layout.y_tick_px:
        hline(py * s, left, right, GRID_COLOR)
    for px in layout.x_tick_px:
        vline(px * s, top, bottom, GRID_COLOR)
    hline(bottom, left, right, AXIS_COLOR)

    # Series layers cover the plot area plus room for the widest line.
    margin = int(max((line.width for line in layout.lines), default=1.0) * s) + 2
    x0, y0 = max(0, int(left) - margin), max(0, int(top) - margin)
    x1, y1 = min(W, int(right) + margin + 1), min(H, int(bottom) + margin + 1)
    for line in layout.lines:
        if not line.segments or line.opacity == 0:
            continue
        layer = Image.new("RGBA", (x1 - x0, y1 - y0), (*_rgb(line.color), 0))
        pen = ImageDraw.Draw(layer)
        color = (*_rgb(line.color), 255)
        width = max(1, round(line.width * s))
        radius = line.width * s / 2
        for segment in line.segments:
            pts = segment * s - np.array([x0, y0])
            if len(pts) == 1:
                cx, cy = pts[0].tolist()
                pen.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=color)
            else:
                pen.line([tuple(p) for p in pts.tolist()], fill=color, width=width, joint="curve")
                if width > 2:  # round caps, as in the SVG
                    for cx, cy in (pts[0].tolist(), pts[-1].tolist()):
                        pen.ellipse(
                            (cx - radius, cy - radius, cx + radius, cy + radius), fill=color
                        )
        if line.opacity < 1:
            alpha = layer.getchannel("A").point(lambda a, o=line.opacity: round(a * o))
            layer.putalpha(alpha)
        image.alpha_composite(layer, (x0, y0))

    for entry in layout.legend:
        width = max(1, round(min(entry.width + 0.5, 4.0) * s))
        layer = Image.new("RGBA", (round(28 * s), round(10 * s)), (*_rgb(entry.color), 0))
        ImageDraw.Draw(layer).line(
            ((2 * s, 5 * s), (26 * s, 5 * s)), fill=(*_rgb(entry.color), 255), width=width
        )
        opacity = max(entry.opacity, 0.35)
        layer.putalpha(layer.getchannel("A").point(lambda a, o=opacity: round(a * o)))
        image.alpha_composite(layer, (round(entry.x * s - 2 * s), round(entry.y * s - 5 * s)))
        _draw_text(image, entry.text, s)
    for item in layout.texts:
        _draw_text(image, item, s)
    if layout.message is not None:
        _draw_text(image, layout.message, s)
    # Each output pixel is the mean of its 2x2 painted ones (a box filter:
    # Lanczos looked the same here, took 5 times as long, and its ringing
    # doubled the PNG's size).
    return image.convert("RGB").reduce(_SUPERSAMPLE)


def render_png(layout: ChartLayout, scale: float = 1.0) -> bytes:
    """The chart as PNG file contents, ``scale`` times the layout's size in pixels."""
    buffer = io.BytesIO()
    render_png_image(layout, scale).save(buffer, format="PNG", optimize=False, compress_level=6)
    return buffer.getvalue()
