"""Panoptic maps -> COCO panoptic format (RGB id PNG + segments_info).

COCO panoptic results are one PNG per image whose pixel value encodes a
segment id, id = R + 256 G + 256^2 B (0 = void), plus a JSON entry per
image: {"image_id", "file_name", "segments_info": [{"id", "category_id",
"iscrowd", "bbox" [x, y, w, h], "area"}]}. Here segment ids are 1, 2, ...
in order of first appearance of each panoptic value in raster order.
Category ids are the model's contiguous class ids, or the dataset's
original ids when a `category_map` (e.g. from classes.json `source_id`) is
given. Thing segments also carry "instance_id" and "score".
"""

import json
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from axial_deeplab_tf.data import encoding as encoding_lib
from axial_deeplab_tf.data import schema


def segments_from_panoptic(panoptic: np.ndarray,
                           encoding: encoding_lib.PanopticEncoding,
                           category_map: Optional[Dict[int, int]] = None,
                           instance_scores: Optional[Sequence[float]] = None
                           ) -> Tuple[np.ndarray, List[dict]]:
  """Splits a panoptic map into COCO segments.

  Args:
    panoptic: int [H, W], class * label_divisor + instance id; class
      `void_label` (or a negative value) is void.
    encoding: the model's panoptic encoding (label divisor, void label;
      its thing classes get the isthing flag).
    category_map: contiguous class id -> category id written in JSON.
    instance_scores: [top_k] score of instance id j + 1 at index j.

  Returns:
    (ids, segments_info): ids int32 [H, W] (0 void, segment ids 1..N) and
    the list of segment dicts.
  """
  label_divisor = encoding.label_divisor
  panoptic = np.asarray(panoptic).astype(np.int64)
  classes = panoptic // label_divisor
  void = (panoptic < 0) | (classes == encoding.void_label)
  values, first, inverse, counts = np.unique(
      np.where(void, -1, panoptic).ravel(), return_index=True,
      return_inverse=True, return_counts=True)
  order = [i for i in np.argsort(first, kind='stable') if values[i] >= 0]
  new_id = np.zeros(len(values), np.int32)
  segments = []
  height, width = panoptic.shape
  for rank, index in enumerate(order, start=1):
    new_id[index] = rank
    value = int(values[index])
    class_id, instance_id = divmod(value, label_divisor)
    mask = (inverse == index).reshape(height, width)
    rows, cols = np.any(mask, axis=1), np.any(mask, axis=0)
    y0, y1 = np.argmax(rows), height - np.argmax(rows[::-1])
    x0, x1 = np.argmax(cols), width - np.argmax(cols[::-1])
    segment = {
        'id': rank,
        'category_id': int(category_map[class_id]) if category_map
                       else int(class_id),
        'iscrowd': 0,
        'bbox': [int(x0), int(y0), int(x1 - x0), int(y1 - y0)],
        'area': int(counts[index]),
        'isthing': int(class_id in encoding.thing_class_ids),
    }
    if instance_id > 0:
      segment['instance_id'] = int(instance_id)
      if instance_scores is not None and instance_id <= len(instance_scores):
        segment['score'] = float(instance_scores[instance_id - 1])
    segments.append(segment)
  ids = new_id[inverse].reshape(height, width)
  ids[void] = 0
  return ids, segments


def write_id_png(path: str, ids: np.ndarray) -> None:
  """Writes int [H, W] segment ids as an RGB PNG (id = R + 256 G + 65536 B)."""
  with open(path, 'wb') as f:
    f.write(schema.encode_png(schema.ids_to_rgb(ids)))


def category_map_from_classes_json(path: str) -> Tuple[Dict[int, int],
                                                       List[dict]]:
  """Reads classes.json (see docs/data.md).

  Returns:
    (category_map, categories): contiguous id -> `source_id` (the id
    itself when absent), and COCO-style categories [{"id", "name",
    "isthing"}] with the mapped ids.
  """
  with open(path) as f:
    content = json.load(f)
  classes = content.get('classes') if isinstance(content, dict) else None
  if not isinstance(classes, list):
    raise ValueError(f'{path}: expected {{"classes": [...]}} as written by '
                     f'the dataset converters.')
  category_map, categories = {}, []
  for entry in classes:
    class_id = int(entry['id'])
    source_id = int(entry.get('source_id', class_id))
    category_map[class_id] = source_id
    categories.append({'id': source_id, 'name': entry.get('name', ''),
                       'isthing': int(bool(entry.get('isthing', False)))})
  return category_map, categories
