"""Run-length encoding (pycocotools RLE) of masks, cropped to their boxes.

pycocotools encodes column-major uint8 masks. Converting a full C-ordered
[H, W] mask costs a full-size copy; writing only the mask's bounding box
into a zeroed column-major buffer is about 5x faster, and for a label map
one pass finds every label's box.
"""

from typing import Any, Dict, Sequence

import numpy as np
from pycocotools import mask as mask_api


def _encode_box(mask_fn, shape, box) -> Dict[str, Any]:
  """RLE of a [H, W] mask that is empty outside box = (y0, y1, x0, x1).

  mask_fn(crop_slices) gives the mask inside the box. Writing the crop into
  a zeroed column-major buffer avoids a full-size Fortran copy (5x faster).
  """
  full = np.zeros(shape, np.uint8, order='F')
  if box is not None:
    y0, y1, x0, x1 = box
    full[y0:y1, x0:x1] = mask_fn((slice(y0, y1), slice(x0, x1)))
  return mask_api.encode(full)


def encode_mask(mask: np.ndarray) -> Dict[str, Any]:
  """RLE of one bool [H, W] mask."""
  rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
  box = None
  if rows.size:
    box = (rows[0], rows[-1] + 1, cols[0], cols[-1] + 1)
  return _encode_box(lambda sl: mask[sl], mask.shape, box)


def encode_labels(labels: np.ndarray, wanted: Sequence[int]):
  """RLEs of `labels == v` for each v in wanted; labels int [H, W] >= 0.

  One pass builds per-row and per-column presence tables, so each mask is
  only compared inside its bounding box.
  """
  height, width = labels.shape
  n = int(labels.max()) + 1 if labels.size else 1
  in_row = np.bincount((np.arange(height)[:, None] * n + labels).ravel(),
                       minlength=height * n).reshape(height, n) > 0
  in_col = np.bincount((np.arange(width)[None, :] * n + labels).ravel(),
                       minlength=width * n).reshape(width, n) > 0
  out = []
  for v in wanted:
    box = None
    if 0 <= v < n:
      rows, cols = np.flatnonzero(in_row[:, v]), np.flatnonzero(in_col[:, v])
      if rows.size:
        box = (rows[0], rows[-1] + 1, cols[0], cols[-1] + 1)
    out.append(_encode_box(lambda sl, v=v: labels[sl] == v, labels.shape,
                           box))
  return out
