"""Synthetic shapes: a small, learnable panoptic dataset with exact labels.

Each image [S, S, 3] has a background split by a random straight line into
one or two stuff regions (textures "stripes", "speckle") and 2-6 thing
instances ("circle", "square", "triangle") with random colours, sizes and
positions, which may touch or overlap (later ones occlude earlier ones).
The image is rendered *from* the label map, so labels are exact. Every
instance keeps at least `min_visible_fraction` of its area and
`min_instance_area` pixels; a 1-pixel dark rim inside each visible instance
separates touching instances of one class.

Classes (contiguous ids, as in the written classes.json):
  0 stripes (stuff), 1 speckle (stuff), 2 circle, 3 square, 4 triangle.
`ENCODING` (label divisor 256) is recorded in classes.json.
"""

import dataclasses
import io
import json
import os
from typing import Dict, List

import numpy as np
from PIL import Image

from axial_deeplab_tf.data import encoding as encoding_lib
from axial_deeplab_tf.data import schema
from axial_deeplab_tf.data.converters import shard_writer

CLASSES = (
    {'id': 0, 'name': 'stripes', 'isthing': 0},
    {'id': 1, 'name': 'speckle', 'isthing': 0},
    {'id': 2, 'name': 'circle', 'isthing': 1},
    {'id': 3, 'name': 'square', 'isthing': 1},
    {'id': 4, 'name': 'triangle', 'isthing': 1},
)
NUM_STUFF = 2
THING_CLASSES = (2, 3, 4)
ENCODING = encoding_lib.PanopticEncoding.from_classes(CLASSES,
                                                      label_divisor=256)


@dataclasses.dataclass
class SyntheticConfig:
  """Synthetic shapes options.

  Attributes:
    image_size: side S of the square images.
    min_things, max_things: number of shapes attempted per image.
    min_radius, max_radius: shape half-size as a fraction of image_size.
    min_visible_fraction: an occluded shape is dropped below this fraction.
    min_instance_area: shapes with fewer visible pixels are dropped.
    noise: std of the Gaussian pixel noise (0-255 scale).
    image_format: 'png' (lossless, default) or 'jpeg' (quality 95; for
      benchmarks that want realistic decoding cost).
  """
  image_size: int = 96
  min_things: int = 2
  max_things: int = 6
  min_radius: float = 0.08
  max_radius: float = 0.2
  min_visible_fraction: float = 0.4
  min_instance_area: int = 30
  noise: float = 6.0
  image_format: str = 'png'


def _shape_mask(kind: int, cy: float, cx: float, r: float, yy, xx):
  """Boolean [S, S] mask of one shape (kind = thing class id)."""
  if kind == 2:  # circle
    return (yy - cy)**2 + (xx - cx)**2 <= r * r
  if kind == 3:  # axis-aligned square
    return (np.abs(yy - cy) <= r * 0.85) & (np.abs(xx - cx) <= r * 0.85)
  # upward triangle: apex (cy - r, cx), base at y = cy + r, half-width r*1.1
  t = (yy - (cy - r)) / (2 * r)  # 0 at apex, 1 at base
  return (t >= 0) & (t <= 1) & (np.abs(xx - cx) <= t * r * 1.1)


def _textures(rng: np.random.Generator, s: int, yy, xx) -> np.ndarray:
  """Float [2, S, S, 3] full-image textures of the two stuff classes."""
  angle = rng.uniform(0, np.pi)
  period = rng.uniform(5, 9)
  phase = np.sin(2 * np.pi * (yy * np.sin(angle) + xx * np.cos(angle))
                 / period)
  base0 = np.array([60, 90, 170]) + rng.uniform(-20, 20, 3)
  stripes = base0 + 45 * phase[..., None]
  base1 = np.array([80, 150, 70]) + rng.uniform(-20, 20, 3)
  speck = rng.uniform(-1, 1, (s // 3 + 1, s // 3 + 1))
  speck = np.kron(speck, np.ones((3, 3)))[:s, :s]
  speckle = base1 + 40 * speck[..., None]
  return np.stack([stripes, speckle])


def _thing_color(rng: np.random.Generator) -> np.ndarray:
  """A bright colour: one channel high, others random, in [0, 255]."""
  color = rng.uniform(30, 255, 3)
  color[rng.integers(3)] = rng.uniform(220, 255)
  return color


def make_example(rng: np.random.Generator, config: SyntheticConfig
                 ) -> Dict[str, np.ndarray]:
  """Generates one image with exact panoptic labels.

  Returns:
    dict: image uint8 [S, S, 3]; ids int64 [S, S] segment ids (0 unused:
    every pixel is labeled); segment_ids, class_ids, is_crowd, is_thing
    int64 [N].
  """
  s = config.image_size
  yy, xx = np.mgrid[0:s, 0:s].astype(np.float64)
  ids = np.zeros((s, s), np.int64)
  segment_ids, class_ids = [], []
  # Stuff: a random line splits the image; each side gets a stuff class.
  angle = rng.uniform(0, 2 * np.pi)
  offset = rng.uniform(-0.3, 0.3) * s
  side = ((yy - s / 2) * np.sin(angle) + (xx - s / 2) * np.cos(angle)
          > offset)
  stuff_a = int(rng.integers(NUM_STUFF))
  stuff_b = stuff_a if rng.uniform() < 0.25 else 1 - stuff_a
  stuff_map = np.where(side, stuff_b, stuff_a)
  for c in sorted({stuff_a, stuff_b}):
    mask = stuff_map == c
    if mask.any():
      ids[mask] = 1 + c
      segment_ids.append(1 + c)
      class_ids.append(c)
  textures = _textures(rng, s, yy, xx)
  image = np.where((stuff_map == 0)[..., None], textures[0], textures[1])
  # Things, drawn in order; visibility decided from the top down.
  n = int(rng.integers(config.min_things, config.max_things + 1))
  shapes = []
  for _ in range(n):
    kind = int(rng.choice(THING_CLASSES))
    r = rng.uniform(config.min_radius, config.max_radius) * s
    cy, cx = rng.uniform(r * 0.5, s - r * 0.5, 2)
    shapes.append((kind, _shape_mask(kind, cy, cx, r, yy, xx)))
  occupied = np.zeros((s, s), bool)
  visible = [None] * n
  for i in reversed(range(n)):
    full = shapes[i][1]
    vis = full & ~occupied
    area = vis.sum()
    if (area >= config.min_instance_area
        and area >= config.min_visible_fraction * full.sum()):
      visible[i] = vis
      occupied |= vis
  next_id = 100
  for i in range(n):
    if visible[i] is None:
      continue
    ids[visible[i]] = next_id
    segment_ids.append(next_id)
    class_ids.append(shapes[i][0])
    image[visible[i]] = _thing_color(rng)
    next_id += 1
  # Dark rim: thing pixels with a 4-neighbour in another segment.
  padded = np.pad(ids, 1, mode='edge')
  boundary = np.zeros((s, s), bool)
  for dy, dx in ((0, 1), (2, 1), (1, 0), (1, 2)):
    boundary |= padded[dy:dy + s, dx:dx + s] != ids
  rim = boundary & (ids >= 100)
  image[rim] *= 0.45
  image += rng.normal(0, config.noise, image.shape)
  image = np.clip(np.round(image), 0, 255).astype(np.uint8)
  is_thing = [1 if c >= NUM_STUFF else 0 for c in class_ids]
  return {
      'image': image, 'ids': ids,
      'segment_ids': np.array(segment_ids, np.int64),
      'class_ids': np.array(class_ids, np.int64),
      'is_crowd': np.zeros(len(segment_ids), np.int64),
      'is_thing': np.array(is_thing, np.int64),
  }


def _encode_image(image: np.ndarray, image_format: str) -> bytes:
  if image_format == 'png':
    return schema.encode_png(image)
  if image_format == 'jpeg':
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format='JPEG', quality=95)
    return buffer.getvalue()
  raise ValueError(f"image_format must be 'png' or 'jpeg', got "
                   f'{image_format!r}')


def to_tf_example(example: Dict[str, np.ndarray], source_id: str,
                  image_format: str = 'png'):
  """Encodes a make_example() dict as a panoptic tf.Example."""
  s = example['image'].shape
  return schema.make_panoptic_example(
      _encode_image(example['image'], image_format), s[0], s[1],
      schema.encode_png(schema.ids_to_rgb(example['ids'])),
      example['segment_ids'], example['class_ids'], example['is_crowd'],
      example['is_thing'], source_id=source_id)


def write_synthetic_dataset(output_dir: str,
                            num_train: int = 400,
                            num_val: int = 100,
                            seed: int = 0,
                            num_shards: int = 4,
                            config: SyntheticConfig = SyntheticConfig(),
                            num_workers: int = 2,
                            show_progress: bool = False) -> Dict[str, List[str]]:
  """Writes train and val splits as TFRecord shards plus classes.json.

  Images are a pure function of (seed, split, index): the same seed gives
  the same dataset whatever num_shards or num_workers.

  Returns:
    {'train': [shard paths], 'val': [shard paths]}.
  """
  written = {}
  for split, count, split_key in (('train', num_train, 0),
                                  ('val', num_val, 1)):
    def serialize(index, split=split, split_key=split_key):
      rng = np.random.default_rng([seed, split_key, index])
      return to_tf_example(make_example(rng, config), f'{split}_{index:06d}',
                           config.image_format).SerializeToString()
    written[split] = shard_writer.write_shards(
        list(range(count)), serialize, output_dir, split, num_shards,
        num_workers=num_workers, show_progress=show_progress)
  shard_writer.write_classes(
      output_dir, CLASSES, ENCODING,
      extra=_identity(seed, config, num_train, num_val))
  return written


def _identity(seed: int, config: SyntheticConfig, num_train: int,
              num_val: int) -> dict:
  """The classes.json keys that identify one synthetic dataset."""
  return {'dataset': 'synthetic_shapes', 'seed': seed,
          'image_size': config.image_size, 'num_train': num_train,
          'num_val': num_val}


def ensure_synthetic_dataset(output_dir: str,
                             num_train: int = 400,
                             num_val: int = 100,
                             seed: int = 0,
                             config: SyntheticConfig = SyntheticConfig(),
                             **kwargs) -> Dict[str, str]:
  """Writes the dataset unless output_dir already holds the same one.

  "The same" = its classes.json records the same seed, image size, counts
  and encoding. Returns default_paths(output_dir).
  """
  path = os.path.join(output_dir, schema.CLASSES_FILE)
  wanted = _identity(seed, config, num_train, num_val)
  wanted[encoding_lib.ENCODING_KEY] = ENCODING.to_metadata()
  try:
    with open(path) as f:
      found = json.load(f)
    if all(found.get(k) == v for k, v in wanted.items()):
      return default_paths(output_dir)
  except (OSError, ValueError):
    pass
  write_synthetic_dataset(output_dir, num_train, num_val, seed,
                          config=config, **kwargs)
  return default_paths(output_dir)


def default_paths(output_dir: str) -> Dict[str, str]:
  """File patterns of the splits written by write_synthetic_dataset."""
  return {split: os.path.join(output_dir, f'{split}-*-of-*.tfrecord')
          for split in ('train', 'val')}
