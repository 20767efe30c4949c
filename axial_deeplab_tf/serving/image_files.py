"""Finding and reading the input images of trainer/predict.py.

`collect_image_paths(specs)` expands files, folders (all files directly
inside, sorted; hidden files skipped) and glob patterns. `read_image(path)`
returns uint8 RGB [H, W, 3] for any image TensorFlow or Pillow can decode:
grayscale is repeated over 3 channels, alpha is dropped, 16-bit images keep
their 8 most significant bits (`value >> 8`). Anything else raises
`UnreadableImageError` naming the file, so callers can report and skip it.
"""

import glob
import io
import os
from typing import List, Sequence, Tuple

import numpy as np
from PIL import Image
import tensorflow as tf

from axial_deeplab_tf.serving import preprocessing


class UnreadableImageError(ValueError):
  """A file that is missing or cannot be decoded as an image.

  The message is '<path>: <reason>'; `path` and `reason` are attributes.
  """

  def __init__(self, path: str, reason: str):
    super().__init__(f'{path}: {reason}')
    self.path, self.reason = path, reason


def collect_image_paths(specs: Sequence[str]) -> Tuple[List[str], List[str]]:
  """Expands input specs into file paths.

  Args:
    specs: files, folders or glob patterns.

  Returns:
    (paths, problems): paths in order, without duplicates; problems are
    '<spec>: <reason>' strings for specs that match nothing.
  """
  paths, problems, seen = [], [], set()
  for spec in specs:
    if os.path.isdir(spec):
      found = [os.path.join(spec, n) for n in sorted(os.listdir(spec))
               if not n.startswith('.')]
      found = [p for p in found if os.path.isfile(p)]
    elif os.path.isfile(spec):
      found = [spec]
    else:
      found = sorted(p for p in glob.glob(spec) if os.path.isfile(p))
    if not found:
      problems.append(f'{spec}: no such file, folder or matching files')
    for path in found:
      if path not in seen:
        seen.add(path)
        paths.append(path)
  return paths, problems


def _to_uint8_rgb(array: np.ndarray) -> np.ndarray:
  """Pillow array of any mode -> uint8 [H, W, 3]."""
  if array.dtype == np.bool_:
    array = array.astype(np.uint8) * 255
  elif array.dtype != np.uint8:
    if np.issubdtype(array.dtype, np.floating):
      array = np.clip(array, 0.0, 1.0) * 255.0
    else:
      # 16-bit (I;16, or I holding 16-bit values): keep the high byte.
      array = np.right_shift(np.clip(array.astype(np.int64), 0, 65535), 8)
    array = array.astype(np.uint8)
  if array.ndim == 2:
    array = np.repeat(array[..., None], 3, axis=-1)
  elif array.shape[-1] == 1:
    array = np.repeat(array, 3, axis=-1)
  elif array.shape[-1] == 2:      # gray + alpha
    array = np.repeat(array[..., :1], 3, axis=-1)
  return np.ascontiguousarray(array[..., :3])


def _read_with_pillow(data: bytes) -> np.ndarray:
  with Image.open(io.BytesIO(data)) as image:
    image.load()
    if image.mode in ('P', 'PA', 'CMYK', 'YCbCr', 'LAB', 'HSV', '1'):
      image = image.convert('RGBA' if 'A' in image.mode or
                            'transparency' in image.info else 'RGB')
    return _to_uint8_rgb(np.asarray(image))


def read_image(path: str) -> np.ndarray:
  """Reads one image file as uint8 RGB [H, W, 3].

  Raises:
    UnreadableImageError: naming `path` and the reason.
  """
  try:
    with tf.io.gfile.GFile(path, 'rb') as f:
      data = f.read()
  except (OSError, tf.errors.OpError) as e:
    raise UnreadableImageError(path, f'cannot read ({e})') from e
  if not data:
    raise UnreadableImageError(path, 'empty file')
  try:
    image = preprocessing.decode_image(tf.constant(data)).numpy()
  except (tf.errors.InvalidArgumentError, tf.errors.UnknownError,
          tf.errors.UnimplementedError):
    try:
      image = _read_with_pillow(data)
    except Image.UnidentifiedImageError as e:
      raise UnreadableImageError(
          path, 'not a readable image (unknown or corrupt format)') from e
    except Exception as e:  # Pillow raises many types for bad files.
      raise UnreadableImageError(
          path, f'not a readable image ({type(e).__name__}: {e})') from e
  if image.shape[0] < 1 or image.shape[1] < 1:
    raise UnreadableImageError(path, 'image has no pixels')
  return image
