"""COCO-format panoptic annotations (COCO and Cityscapes) -> our tf.Examples.

Both COCO panoptic and Cityscapes' createPanopticImgs write a JSON with
`images` ({id, file_name, height, width}), `annotations` ({image_id,
file_name of the label PNG, segments_info: [{id, category_id, iscrowd}]})
and `categories` ({id, name, isthing}), plus a folder of RGB-id PNGs
(id = R + 256 G + 65536 B). Only the image path differs, so converters
pass an `image_path_fn(image_entry) -> path`.

Class ids: categories sorted by id become 0, 1, 2, ... (COCO: 133
classes; Cityscapes: the 19 trainIds, whether the JSON uses label ids or
trainIds). classes.json keeps each original id as `source_id`.
Image and label bytes are stored unchanged (PNG labels are already RGB
ids), so the converted size is about the source size.
"""

import dataclasses
import json
import os
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image

from axial_deeplab_tf.data import encoding as encoding_lib
from axial_deeplab_tf.data import schema
from axial_deeplab_tf.data.converters import driver
from axial_deeplab_tf.data.converters import file_checks


@dataclasses.dataclass
class PanopticItem:
  """One image and its panoptic annotation."""
  source_id: str
  image_path: str
  label_path: str
  segments: List[dict]
  height: Optional[int] = None
  width: Optional[int] = None


def load_json(json_path: str) -> dict:
  """Reads a panoptic JSON; errors name the file and the missing key."""
  try:
    with open(json_path) as f:
      data = json.load(f)
  except FileNotFoundError as e:
    raise ValueError(f'{json_path}: panoptic JSON file is missing') from e
  except (OSError, json.JSONDecodeError) as e:
    raise ValueError(f'{json_path}: not a readable JSON file ({e})') from e
  for key in ('images', 'annotations', 'categories'):
    if key not in data:
      raise ValueError(f'{json_path}: expected a top-level "{key}" list')
  return data


def classes_from_categories(categories: Sequence[dict]
                            ) -> Tuple[List[dict], Dict[int, int]]:
  """Categories -> (classes.json entries, original id -> contiguous id)."""
  ordered = sorted(categories, key=lambda c: c['id'])
  classes = [{'id': k, 'name': c.get('name', str(c['id'])),
              'isthing': int(c.get('isthing', 0)), 'source_id': c['id']}
             for k, c in enumerate(ordered)]
  return classes, {c['id']: k for k, c in enumerate(ordered)}


def collect_items(data: dict, json_path: str, panoptic_dir: str,
                  image_path_fn: Callable[[dict], str]
                  ) -> Tuple[List[PanopticItem], List[driver.Problem]]:
  """Pairs annotations with images; returns (items, listing problems)."""
  images = {image['id']: image for image in data['images']}
  items, problems = [], []
  annotated = set()
  for ann in data['annotations']:
    image = images.get(ann.get('image_id'))
    label_path = os.path.join(panoptic_dir, ann.get('file_name', ''))
    if image is None:
      problems.append((json_path, f'annotation {ann.get("file_name")!r} '
                       f'refers to image_id {ann.get("image_id")!r}, which '
                       'is not listed in "images"'))
      continue
    annotated.add(image['id'])
    items.append(PanopticItem(
        source_id=str(image.get('file_name', image['id'])),
        image_path=image_path_fn(image), label_path=label_path,
        segments=list(ann.get('segments_info', [])),
        height=image.get('height'), width=image.get('width')))
  for image_id, image in images.items():
    if image_id not in annotated:
      problems.append((image_path_fn(image), f'image {image_id!r} is listed '
                       f'in {os.path.basename(json_path)} "images" but has '
                       'no annotation'))
  return items, problems


def _ids_text(ids) -> str:
  ids = sorted(int(i) for i in ids)
  more = f' and {len(ids) - 10} more' if len(ids) > 10 else ''
  return ', '.join(str(i) for i in ids[:10]) + more


def validate_item(item: PanopticItem, category_map: Dict[int, int],
                  json_name: str) -> List[driver.Problem]:
  """All problems of one item (empty list when it converts cleanly)."""
  problems = []
  image, problem = file_checks.load_array(item.image_path, 'RGB')
  if problem:
    problems.append((item.image_path, problem))
  label, problem = file_checks.load_array(item.label_path, 'RGB')
  if problem:
    problems.append((item.label_path, problem))
  if image is None or label is None:
    return problems
  h, w = image.shape[:2]
  if label.shape[:2] != (h, w):
    problems.append((item.label_path, f'label size {label.shape[1]}x'
                     f'{label.shape[0]} differs from the image size {w}x{h} '
                     f'of {item.image_path}'))
  if item.height is not None and item.width is not None and (
      (item.height, item.width) != (h, w)):
    problems.append((item.image_path, f'image size {w}x{h} differs from '
                     f'{item.width}x{item.height} given in {json_name}'))
  listed = [int(s['id']) for s in item.segments]
  if len(set(listed)) != len(listed):
    problems.append((item.label_path, f'{json_name} lists a segment id more '
                     'than once'))
  in_png = set(np.unique(schema.rgb_to_ids(label)).tolist()) - {0}
  only_png = in_png - set(listed)
  only_json = set(listed) - in_png
  if only_png:
    problems.append((item.label_path, f'segment id(s) {_ids_text(only_png)} '
                     f'in the PNG but not in {json_name} segments_info'))
  if only_json:
    problems.append((item.label_path, f'segment id(s) {_ids_text(only_json)} '
                     f'in {json_name} segments_info but not in the PNG'))
  for s in item.segments:
    if s.get('category_id') not in category_map:
      problems.append((item.label_path, f'segment {s["id"]} has category_id '
                       f'{s.get("category_id")!r}, not in the categories of '
                       f'{json_name}'))
  return problems


def serialize_item(item: PanopticItem, category_map: Dict[int, int],
                   isthing: Dict[int, int]) -> bytes:
  """One validated item -> serialized panoptic tf.Example."""
  with Image.open(item.image_path) as image:
    width, height = image.size
  segments = item.segments
  return schema.make_panoptic_example(
      file_checks.image_bytes_for_example(item.image_path), height, width,
      file_checks.panoptic_png_for_example(item.label_path),
      [s['id'] for s in segments],
      [category_map[s['category_id']] for s in segments],
      [int(s.get('iscrowd', 0)) for s in segments],
      [isthing[category_map[s['category_id']]] for s in segments],
      source_id=item.source_id).SerializeToString()


def convert_panoptic_json(json_path: str, panoptic_dir: str,
                          image_path_fn: Callable[[dict], str],
                          output_dir: str, split: str, dataset_name: str,
                          label_divisor: int,
                          **convert_kwargs) -> driver.ConversionReport:
  """Converts one split described by a COCO-format panoptic JSON.

  Args:
    json_path: the panoptic JSON.
    panoptic_dir: folder of the label PNGs named in the annotations.
    image_path_fn: image entry of the JSON -> image file path.
    output_dir: output folder for shards and classes.json.
    split: shard prefix.
    dataset_name: recorded in classes.json.
    label_divisor: the dataset's panoptic label divisor, recorded in
      classes.json's "encoding" (with the classes and the void label).
    **convert_kwargs: num_shards, num_workers, skip_invalid, show_progress.

  Returns:
    driver.ConversionReport.
  """
  data = load_json(json_path)
  classes, category_map = classes_from_categories(data['categories'])
  isthing = {c['id']: c['isthing'] for c in classes}
  items, early = collect_items(data, json_path, panoptic_dir, image_path_fn)
  json_name = os.path.basename(json_path)
  return driver.convert(
      items,
      validate=lambda item: validate_item(item, category_map, json_name),
      serialize=lambda item: serialize_item(item, category_map, isthing),
      source_files=lambda item: [item.image_path, item.label_path],
      output_dir=output_dir, split=split, classes=classes,
      early_problems=early, classes_extra={'dataset': dataset_name},
      encoding=encoding_lib.PanopticEncoding.from_classes(classes,
                                                          label_divisor),
      **convert_kwargs)
