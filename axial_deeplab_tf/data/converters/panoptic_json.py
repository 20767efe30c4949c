"""COCO-format panoptic annotations (COCO and Cityscapes) -> our tf.Examples.

Both COCO panoptic and Cityscapes' createPanopticImgs write a JSON with
`images` ({id, file_name, height, width}), `annotations` ({image_id,
file_name of the label PNG, segments_info: [{id, category_id, iscrowd}]})
and `categories` ({id, name, isthing}), plus a folder of RGB-id PNGs
(id = R + 256 G + 65536 B). Only the file locations differ, so each
dataset passes a `Layout`: candidate paths of an image and of a label PNG
(the first that exists is used; when none does, the first is reported
missing, naming the others).

Only `annotations` is required (deeplab2 reads nothing else):
- without `images`, each annotation stands for its image, found by the
  layout from the annotation alone, and sizes are checked between image
  and label only;
- without `categories`, the classes come from `categories_json` (a JSON
  with a `categories` list, or the list itself; it also replaces the
  JSON's own categories when given); with neither, the conversion stops
  naming the option to set.

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
class Layout:
  """Where one dataset keeps the files its panoptic JSON names.

  Attributes:
    image_paths: (image entry of "images" or None when the JSON has none,
      annotation) -> candidate image paths, preferred first.
    label_paths: annotation -> candidate label PNG paths, preferred first.
    categories_hint: where a user finds the categories (quoted when the
      JSON has none).
  """
  image_paths: Callable[[Optional[dict], dict], List[str]]
  label_paths: Callable[[dict], List[str]]
  categories_hint: str


@dataclasses.dataclass
class PanopticItem:
  """One image and its panoptic annotation; `*_alternatives` are the other
  places looked at (named when the file is missing)."""
  source_id: str
  image_path: str
  label_path: str
  segments: List[dict]
  height: Optional[int] = None
  width: Optional[int] = None
  image_alternatives: List[str] = dataclasses.field(default_factory=list)
  label_alternatives: List[str] = dataclasses.field(default_factory=list)


def _read_json(path: str, what: str):
  try:
    with open(path) as f:
      return json.load(f)
  except FileNotFoundError as e:
    raise encoding_lib.DatasetError(f'{path}: {what} file is missing') from e
  except (OSError, json.JSONDecodeError) as e:
    raise encoding_lib.DatasetError(
        f'{path}: not a readable JSON file ({e})') from e


def load_json(json_path: str) -> dict:
  """Reads a panoptic JSON; errors name the file and the missing key."""
  data = _read_json(json_path, 'panoptic JSON')
  if not isinstance(data, dict) or not isinstance(
      data.get('annotations'), list):
    raise encoding_lib.DatasetError(
        f'{json_path}: expected a top-level "annotations" list')
  for key in ('images', 'categories'):
    if key in data and not isinstance(data[key], list):
      raise encoding_lib.DatasetError(
          f'{json_path}: "{key}" must be a list')
  return data


def read_categories(data: dict, json_path: str,
                    categories_json: Optional[str], hint: str) -> List[dict]:
  """The categories: from categories_json when given, else the JSON's.

  Raises:
    encoding_lib.DatasetError: neither has a list of {id, ...} entries;
      the message names `--categories_json` and where to find one.
  """
  if categories_json:
    source = categories_json
    loaded = _read_json(categories_json, 'categories JSON')
    categories = (loaded.get('categories') if isinstance(loaded, dict)
                  else loaded)
  elif 'categories' in data:
    source, categories = json_path, data['categories']
  else:
    raise encoding_lib.DatasetError(
        f'{json_path}: no "categories" list (a deeplab2-style JSON with only '
        '"annotations"), so the class names and thing classes are unknown. '
        'Pass --categories_json=<a JSON with a "categories" list of {id, '
        f'name, isthing}}, or that list>, e.g. {hint}.')
  if not isinstance(categories, list) or not categories or not all(
      isinstance(c, dict) and 'id' in c for c in categories):
    raise encoding_lib.DatasetError(
        f'{source}: expected a non-empty "categories" list of {{id, name, '
        'isthing}} entries')
  return categories


def classes_from_categories(categories: Sequence[dict]
                            ) -> Tuple[List[dict], Dict[int, int]]:
  """Categories -> (classes.json entries, original id -> contiguous id)."""
  ordered = sorted(categories, key=lambda c: c['id'])
  classes = [{'id': k, 'name': c.get('name', str(c['id'])),
              'isthing': int(c.get('isthing', 0)), 'source_id': c['id']}
             for k, c in enumerate(ordered)]
  return classes, {c['id']: k for k, c in enumerate(ordered)}


def first_existing(candidates: Sequence[str]) -> Tuple[str, List[str]]:
  """(the first candidate that exists, else the first; the others)."""
  chosen = next((p for p in candidates if os.path.exists(p)), candidates[0])
  return chosen, [p for p in candidates if p != chosen]


def collect_items(data: dict, json_path: str, layout: Layout
                  ) -> Tuple[List[PanopticItem], List[driver.Problem]]:
  """Pairs annotations with images; returns (items, listing problems)."""
  has_images = 'images' in data
  images = {image.get('id'): image for image in data.get('images', [])}
  items, problems = [], []
  annotated = set()
  for ann in data['annotations']:
    image_id = ann.get('image_id')
    if image_id is None:
      problems.append((json_path, f'annotation {ann.get("file_name")!r} '
                       'has no image_id'))
      continue
    image = images.get(image_id) if has_images else None
    if has_images and image is None:
      problems.append((json_path, f'annotation {ann.get("file_name")!r} '
                       f'refers to image_id {image_id!r}, which '
                       'is not listed in "images"'))
      continue
    if image_id in annotated:
      problems.append((json_path, f'image_id {image_id!r} has more than one '
                       'annotation'))
      continue
    annotated.add(image_id)
    image_path, image_others = first_existing(layout.image_paths(image, ann))
    label_path, label_others = first_existing(layout.label_paths(ann))
    image = image or {}
    items.append(PanopticItem(
        source_id=os.path.basename(image_path),
        image_path=image_path, label_path=label_path,
        segments=list(ann.get('segments_info', [])),
        height=image.get('height'), width=image.get('width'),
        image_alternatives=image_others, label_alternatives=label_others))
  for image_id, image in images.items():
    if image_id not in annotated:
      problems.append((layout.image_paths(image, {})[0],
                       f'image {image_id!r} is listed in '
                       f'{os.path.basename(json_path)} "images" but has no '
                       'annotation'))
  return items, problems


def _ids_text(ids) -> str:
  ids = sorted(int(i) for i in ids)
  more = f' and {len(ids) - 10} more' if len(ids) > 10 else ''
  return ', '.join(str(i) for i in ids[:10]) + more


def _looked_elsewhere(problem: str, alternatives: Sequence[str]) -> str:
  """A missing file's problem, naming the other places looked at."""
  if alternatives and problem == file_checks.MISSING:
    return f'{problem} (nor is it at {", ".join(alternatives)})'
  return problem


def validate_item(item: PanopticItem, category_map: Dict[int, int],
                  json_name: str, categories_name: str,
                  encoding: encoding_lib.PanopticEncoding
                  ) -> List[driver.Problem]:
  """All problems of one item (empty list when it converts cleanly);
  json_name and categories_name: the files quoted in the messages;
  encoding: its thing classes and label divisor bound the instances."""
  problems = []
  image, problem = file_checks.load_array(item.image_path, 'RGB')
  if problem:
    problems.append((item.image_path,
                     _looked_elsewhere(problem, item.image_alternatives)))
  label, problem = file_checks.load_array(item.label_path, 'RGB')
  if problem:
    problems.append((item.label_path,
                     _looked_elsewhere(problem, item.label_alternatives)))
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
                       f'{categories_name}'))
  things = set(encoding.thing_class_ids)
  num_instances = sum(1 for s in item.segments
                      if category_map.get(s.get('category_id')) in things
                      and not s.get('iscrowd', 0))
  return problems + driver.instance_count_problems(
      item.label_path, num_instances, encoding.label_divisor)


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


def convert_panoptic_json(json_path: str, layout: Layout, output_dir: str,
                          split: str, dataset_name: str, label_divisor: int,
                          categories_json: Optional[str] = None,
                          **convert_kwargs) -> driver.ConversionReport:
  """Converts one split described by a COCO-format panoptic JSON.

  Args:
    json_path: the panoptic JSON.
    layout: where the dataset's images and label PNGs are.
    output_dir: output folder for shards and classes.json.
    split: shard prefix.
    dataset_name: recorded in classes.json.
    label_divisor: the dataset's panoptic label divisor, recorded in
      classes.json's "encoding" (with the classes and the void label).
    categories_json: a JSON with the categories (a "categories" list, or
      the list), used instead of the panoptic JSON's own (module
      docstring).
    **convert_kwargs: num_shards, num_workers, skip_invalid, show_progress.

  Returns:
    driver.ConversionReport.
  """
  data = load_json(json_path)
  categories = read_categories(data, json_path, categories_json,
                               layout.categories_hint)
  classes, category_map = classes_from_categories(categories)
  isthing = {c['id']: c['isthing'] for c in classes}
  items, early = collect_items(data, json_path, layout)
  json_name = os.path.basename(json_path)
  categories_name = os.path.basename(categories_json or json_path)
  encoding = encoding_lib.PanopticEncoding.from_classes(classes,
                                                        label_divisor)
  return driver.convert(
      items,
      validate=lambda item: validate_item(item, category_map, json_name,
                                          categories_name, encoding),
      serialize=lambda item: serialize_item(item, category_map, isthing),
      source_files=lambda item: [item.image_path, item.label_path],
      output_dir=output_dir, split=split, classes=classes,
      early_problems=early, classes_extra={'dataset': dataset_name},
      encoding=encoding, **convert_kwargs)
