"""Reading source files for converters, with problems reported, not raised.

Each loader returns (value, problem): value is None and problem a short
sentence when the file is missing or cannot be decoded.
"""

import io
from typing import Optional, Tuple

import numpy as np
from PIL import Image

from axial_deeplab_tf.data import encoding as encoding_lib
from axial_deeplab_tf.data import schema

MISSING = 'file is missing'


def read_bytes(path: str) -> Tuple[Optional[bytes], Optional[str]]:
  try:
    with open(path, 'rb') as f:
      return f.read(), None
  except FileNotFoundError:
    return None, MISSING
  except OSError as e:
    return None, f'cannot be read ({e.strerror or e})'


def load_array(path: str, mode: Optional[str] = None
               ) -> Tuple[Optional[np.ndarray], Optional[str]]:
  """Decodes an image file fully; mode converts (e.g. 'RGB'), None keeps.

  Returns:
    (array [H, W] or [H, W, C], None) or (None, problem).
  """
  data, problem = read_bytes(path)
  if problem:
    return None, problem
  try:
    with Image.open(io.BytesIO(data)) as image:
      image.load()
      if mode is not None and image.mode != mode:
        image = image.convert(mode)
      return np.asarray(image), None
  except Exception as e:  # pylint: disable=broad-except
    return None, f'is not a readable image ({type(e).__name__}: {e})'


def load_label_png(path: str) -> Tuple[Optional[np.ndarray], Optional[str]]:
  """Decodes a single-channel label PNG (8 or 16 bit) to int64 [H, W]."""
  array, problem = load_array(path)
  if problem:
    return None, problem
  if array.ndim != 2:
    return None, (f'label PNG must have one channel, got shape '
                  f'{array.shape}')
  return array.astype(np.int64), None


def image_bytes_for_example(path: str) -> bytes:
  """Source bytes when JPEG/PNG (stored as they are), else re-encoded PNG."""
  data, problem = read_bytes(path)
  if problem:
    raise encoding_lib.DatasetError(f'{path}: {problem}')
  try:
    schema.sniff_format(data)
    return data
  except ValueError:
    with Image.open(io.BytesIO(data)) as image:
      return schema.encode_png(np.asarray(image.convert('RGB')))


def panoptic_png_for_example(path: str) -> bytes:
  """An RGB id PNG: the source bytes when already 8-bit RGB PNG."""
  data, problem = read_bytes(path)
  if problem:
    raise encoding_lib.DatasetError(f'{path}: {problem}')
  with Image.open(io.BytesIO(data)) as image:
    if image.format == 'PNG' and image.mode == 'RGB':
      return data
    return schema.encode_png(np.asarray(image.convert('RGB')))
