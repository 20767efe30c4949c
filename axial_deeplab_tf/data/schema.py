"""The tf.Example schema of axial-deeplab-tf datasets, and its encoders.

Panoptic examples (one image each) hold:

| key                           | type          | meaning                      |
|-------------------------------|---------------|------------------------------|
| `image/encoded`               | bytes         | JPEG or PNG image, RGB       |
| `image/format`                | bytes         | `jpeg` or `png`              |
| `image/height`, `image/width` | int64         | image size in pixels         |
| `image/source_id`             | bytes         | file name or id of the source|
| `image/panoptic/encoded`      | bytes         | RGB PNG, segment id per pixel|
|                               |               | id = R + 256 G + 65536 B     |
| `image/panoptic/format`       | bytes         | `png_rgb_id`                 |
| `image/panoptic/segment_ids`  | int64 list [N]| ids present in the PNG       |
| `image/panoptic/class_ids`    | int64 list [N]| contiguous class per segment |
| `image/panoptic/is_crowd`     | int64 list [N]| 1 for crowd segments         |
| `image/panoptic/is_thing`     | int64 list [N]| 1 for thing-class segments   |

Pixels whose id is 0 or is not in `segment_ids` are void. Class ids are
contiguous, starting at 0, and index the dataset's `classes.json` (written
beside the shards by every converter). The PNG is the COCO panoptic id
encoding, so COCO and Cityscapes label PNGs are stored byte for byte as
they come; converted datasets are about the size of their sources.

Classification examples hold `image/encoded`, `image/format`,
`image/class/label` (int64, contiguous from 0) and `image/class/text`.
"""

import io
from typing import Optional, Sequence

import numpy as np
from PIL import Image
import tensorflow as tf

IMAGE_ENCODED = 'image/encoded'
IMAGE_FORMAT = 'image/format'
IMAGE_HEIGHT = 'image/height'
IMAGE_WIDTH = 'image/width'
SOURCE_ID = 'image/source_id'
PANOPTIC_ENCODED = 'image/panoptic/encoded'
PANOPTIC_FORMAT = 'image/panoptic/format'
SEGMENT_IDS = 'image/panoptic/segment_ids'
CLASS_IDS = 'image/panoptic/class_ids'
IS_CROWD = 'image/panoptic/is_crowd'
IS_THING = 'image/panoptic/is_thing'
CLASS_LABEL = 'image/class/label'
CLASS_TEXT = 'image/class/text'

PANOPTIC_FORMAT_RGB_ID = b'png_rgb_id'
CLASSES_FILE = 'classes.json'


def _bytes(value: bytes) -> tf.train.Feature:
  return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))


def _ints(values) -> tf.train.Feature:
  return tf.train.Feature(
      int64_list=tf.train.Int64List(value=[int(v) for v in values]))


def ids_to_rgb(id_map: np.ndarray) -> np.ndarray:
  """Encodes segment ids [H, W] (0 <= id < 2**24) as uint8 RGB [H, W, 3]."""
  id_map = np.asarray(id_map, dtype=np.int64)
  if id_map.min(initial=0) < 0 or id_map.max(initial=0) >= 2**24:
    raise ValueError('segment ids must lie in [0, 2**24) for the RGB id '
                     f'encoding; got range [{id_map.min()}, {id_map.max()}]')
  return np.stack([id_map % 256, (id_map // 256) % 256, id_map // 65536],
                  axis=-1).astype(np.uint8)


def rgb_to_ids(rgb: np.ndarray) -> np.ndarray:
  """Decodes uint8 RGB [H, W, 3] into int64 segment ids [H, W]."""
  rgb = np.asarray(rgb, dtype=np.int64)
  return rgb[..., 0] + 256 * rgb[..., 1] + 65536 * rgb[..., 2]


def encode_png(array: np.ndarray) -> bytes:
  """PNG-encodes a uint8 [H, W], [H, W, 3] or uint16 [H, W] array."""
  buffer = io.BytesIO()
  Image.fromarray(array).save(buffer, format='PNG', optimize=False)
  return buffer.getvalue()


def sniff_format(encoded: bytes) -> bytes:
  """Returns b'png' or b'jpeg' from the leading bytes of an encoded image."""
  if encoded[:8] == b'\x89PNG\r\n\x1a\n':
    return b'png'
  if encoded[:3] == b'\xff\xd8\xff':
    return b'jpeg'
  raise ValueError('image bytes are neither PNG nor JPEG (leading bytes '
                   f'{encoded[:8]!r})')


def make_panoptic_example(image_encoded: bytes,
                          height: int,
                          width: int,
                          panoptic_png: bytes,
                          segment_ids: Sequence[int],
                          class_ids: Sequence[int],
                          is_crowd: Sequence[int],
                          is_thing: Sequence[int],
                          source_id: str = '') -> tf.train.Example:
  """Builds a panoptic tf.Example (see the module docstring).

  Args:
    image_encoded: JPEG or PNG bytes of an RGB image [height, width, 3].
    height: image height in pixels.
    width: image width in pixels.
    panoptic_png: RGB PNG bytes [height, width, 3], ids per `ids_to_rgb`.
    segment_ids: [N] ids of the segments in the PNG (0 is never a segment).
    class_ids: [N] contiguous class id of each segment.
    is_crowd: [N] 0/1 crowd flag of each segment.
    is_thing: [N] 0/1 flag, 1 when the segment's class is a thing class.
    source_id: file name or id of the source image.

  Returns:
    A tf.train.Example.
  """
  n = len(segment_ids)
  for name, values in (('class_ids', class_ids), ('is_crowd', is_crowd),
                       ('is_thing', is_thing)):
    if len(values) != n:
      raise ValueError(f'{name} has {len(values)} entries but segment_ids has '
                       f'{n} (source {source_id!r}); expected one per segment')
  if 0 in list(segment_ids):
    raise ValueError(f'segment id 0 is reserved for void (source {source_id!r})')
  feature = {
      IMAGE_ENCODED: _bytes(image_encoded),
      IMAGE_FORMAT: _bytes(sniff_format(image_encoded)),
      IMAGE_HEIGHT: _ints([height]),
      IMAGE_WIDTH: _ints([width]),
      SOURCE_ID: _bytes(source_id.encode('utf-8')),
      PANOPTIC_ENCODED: _bytes(panoptic_png),
      PANOPTIC_FORMAT: _bytes(PANOPTIC_FORMAT_RGB_ID),
      SEGMENT_IDS: _ints(segment_ids),
      CLASS_IDS: _ints(class_ids),
      IS_CROWD: _ints(is_crowd),
      IS_THING: _ints(is_thing),
  }
  return tf.train.Example(features=tf.train.Features(feature=feature))


def make_classification_example(image_encoded: bytes,
                                label: int,
                                text: str = '',
                                source_id: str = '',
                                height: Optional[int] = None,
                                width: Optional[int] = None
                                ) -> tf.train.Example:
  """Builds a classification tf.Example: encoded image and int label."""
  feature = {
      IMAGE_ENCODED: _bytes(image_encoded),
      IMAGE_FORMAT: _bytes(sniff_format(image_encoded)),
      CLASS_LABEL: _ints([label]),
      CLASS_TEXT: _bytes(text.encode('utf-8')),
      SOURCE_ID: _bytes(source_id.encode('utf-8')),
  }
  if height is not None and width is not None:
    feature[IMAGE_HEIGHT] = _ints([height])
    feature[IMAGE_WIDTH] = _ints([width])
  return tf.train.Example(features=tf.train.Features(feature=feature))
