"""A generic panoptic folder layout for users' own data.

Layout (folder names configurable):
  <root>/images/<name>.jpg|.jpeg|.png      RGB image
  <root>/semantic/<name>.png               class id per pixel (8/16 bit);
                                           `ignore_label` (default 255) = void
  <root>/instance/<name>.png               instance id per pixel (8/16 bit),
                                           0 = no instance
  <root>/classes.json | classes.yaml       class list

Class list: either a list of {id, name, isthing} or a mapping
{"classes": [...], "ignore_label": 255}. Ids are the values in the semantic
PNGs; sorted, they become the contiguous ids 0..K-1 (at most 255 classes).

Segments: a stuff class's pixels form one segment; a thing class's pixels
form one segment per instance id; thing pixels with instance 0 form a crowd
segment. Stored ids: stuff (k + 1), thing (k + 1) * 65536 + instance.

classes.json in the output records the classes and the panoptic encoding
(label divisor `label_divisor`, default `LABEL_DIVISOR`: more than the
instances of any image).
"""

import dataclasses
import json
import os
from typing import Dict, List, Optional, Tuple

import numpy as np
import yaml

from axial_deeplab_tf.data import encoding as encoding_lib
from axial_deeplab_tf.data import schema
from axial_deeplab_tf.data.converters import driver
from axial_deeplab_tf.data.converters import file_checks

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png')
LABEL_DIVISOR = 256


@dataclasses.dataclass
class ClassList:
  """A parsed class file: user ids, contiguous mapping, thing flags."""
  classes: List[dict]
  id_map: Dict[int, int]
  ignore_label: int


def read_class_file(path: str, ignore_label: int = 255) -> ClassList:
  """Reads classes.json / classes.yaml; errors name the file and entry."""
  try:
    with open(path) as f:
      data = (yaml.safe_load(f) if path.endswith(('.yaml', '.yml'))
              else json.load(f))
  except FileNotFoundError as e:
    raise encoding_lib.DatasetError(
        f'{path}: class list file is missing') from e
  except (OSError, ValueError, yaml.YAMLError) as e:
    raise encoding_lib.DatasetError(
        f'{path}: not a readable class list ({e})') from e
  if isinstance(data, dict):
    ignore_label = int(data.get('ignore_label', ignore_label))
    data = data.get('classes')
  if not isinstance(data, list) or not data:
    raise encoding_lib.DatasetError(
        f'{path}: expected a non-empty list of classes, or a mapping with a '
        '"classes" list')
  seen = set()
  for i, entry in enumerate(data):
    if not isinstance(entry, dict) or 'id' not in entry:
      raise encoding_lib.DatasetError(
          f'{path}: class entry {i} ({entry!r}) needs an "id"')
    if entry['id'] in seen:
      raise encoding_lib.DatasetError(
          f'{path}: class id {entry["id"]} appears twice')
    if entry['id'] == ignore_label:
      raise encoding_lib.DatasetError(
          f'{path}: class id {entry["id"]} equals the ignore_label '
          f'{ignore_label}')
    seen.add(entry['id'])
  if len(data) > 255:
    raise encoding_lib.DatasetError(
        f'{path}: {len(data)} classes; at most 255 supported')
  ordered = sorted(data, key=lambda c: c['id'])
  classes = [{'id': k, 'name': str(c.get('name', c['id'])),
              'isthing': int(bool(c.get('isthing', 0))),
              'source_id': c['id']} for k, c in enumerate(ordered)]
  return ClassList(classes, {c['id']: k for k, c in enumerate(ordered)},
                   ignore_label)


@dataclasses.dataclass
class FolderItem:
  name: str
  image_path: str
  semantic_path: str
  instance_path: str


def list_items(image_dir: str, semantic_dir: str, instance_dir: str
               ) -> Tuple[List[FolderItem], List[driver.Problem]]:
  """One item per image stem; label PNGs without an image, and two images
  of one stem, are problems."""
  if not os.path.isdir(image_dir):
    raise encoding_lib.DatasetError(
        f'{image_dir}: image folder is missing')
  names, problems = {}, []
  for f in sorted(os.listdir(image_dir)):
    stem, ext = os.path.splitext(f)
    if ext.lower() not in IMAGE_EXTENSIONS:
      continue
    if stem in names:
      problems.append((os.path.join(image_dir, f), f'has the name of '
                       f'{names[stem]} up to its extension; one image per '
                       'name (the labels are <name>.png)'))
      continue
    names[stem] = f
  items = [FolderItem(stem, os.path.join(image_dir, f),
                      os.path.join(semantic_dir, stem + '.png'),
                      os.path.join(instance_dir, stem + '.png'))
           for stem, f in names.items()]
  for label_dir in (semantic_dir, instance_dir):
    if not os.path.isdir(label_dir):
      continue
    for f in sorted(os.listdir(label_dir)):
      stem = os.path.splitext(f)[0]
      if f.endswith('.png') and stem not in names:
        problems.append((os.path.join(label_dir, f),
                         f'has no image named {stem}.* in {image_dir}'))
  return items, problems


def _load(item: FolderItem):
  """Returns (image, semantic, instance, problems)."""
  problems = []
  image, p = file_checks.load_array(item.image_path, 'RGB')
  if p:
    problems.append((item.image_path, p))
  semantic, p = file_checks.load_label_png(item.semantic_path)
  if p:
    problems.append((item.semantic_path, p))
  instance, p = file_checks.load_label_png(item.instance_path)
  if p:
    problems.append((item.instance_path, p))
  return image, semantic, instance, problems


def validate_item(item: FolderItem, class_list: ClassList,
                  class_file: str, label_divisor: int = LABEL_DIVISOR
                  ) -> List[driver.Problem]:
  image, semantic, instance, problems = _load(item)
  if image is None or semantic is None or instance is None:
    return problems
  h, w = image.shape[:2]
  for path, label in ((item.semantic_path, semantic),
                      (item.instance_path, instance)):
    if label.shape != (h, w):
      problems.append((path, f'label size {label.shape[1]}x{label.shape[0]}'
                       f' differs from the image size {w}x{h} of '
                       f'{item.image_path}'))
  values = set(np.unique(semantic).tolist()) - {class_list.ignore_label}
  unknown = values - set(class_list.id_map)
  if unknown:
    problems.append((item.semantic_path, f'class id(s) '
                     f'{sorted(unknown)[:10]} not in the class list '
                     f'{class_file} (ignore_label {class_list.ignore_label})'))
  if not problems:
    _, _, _, is_crowd, is_thing = segment_map(semantic, instance, class_list)
    problems += driver.instance_count_problems(
        item.instance_path,
        sum(t and not c for t, c in zip(is_thing, is_crowd)), label_divisor)
  return problems


def segment_map(semantic: np.ndarray, instance: np.ndarray,
                class_list: ClassList):
  """Semantic + instance [H, W] -> (ids [H, W], segment lists)."""
  lookup = np.full(max(max(class_list.id_map), class_list.ignore_label) + 1,
                   -1, np.int64)
  for user_id, k in class_list.id_map.items():
    lookup[user_id] = k
  k_map = lookup[semantic]  # -1 = void
  thing_k = np.array([c['isthing'] for c in class_list.classes], bool)
  is_thing_px = np.where(k_map >= 0, thing_k[np.maximum(k_map, 0)], False)
  ids = np.where(k_map >= 0, k_map + 1, 0)
  ids = np.where(is_thing_px, (k_map + 1) * 65536 + instance, ids)
  segment_ids = [int(i) for i in np.unique(ids) if i != 0]
  class_ids = [(i if i < 65536 else i // 65536) - 1
               for i in segment_ids]
  is_thing = [int(thing_k[k]) for k in class_ids]
  is_crowd = [int(i >= 65536 and i % 65536 == 0) for i in segment_ids]
  return ids, segment_ids, class_ids, is_crowd, is_thing


def serialize_item(item: FolderItem, class_list: ClassList) -> bytes:
  image, semantic, instance, problems = _load(item)
  if problems:
    raise encoding_lib.DatasetError(
        f'{problems[0][0]}: {problems[0][1]}')
  ids, segment_ids, class_ids, is_crowd, is_thing = segment_map(
      semantic, instance, class_list)
  return schema.make_panoptic_example(
      file_checks.image_bytes_for_example(item.image_path),
      image.shape[0], image.shape[1],
      schema.encode_png(schema.ids_to_rgb(ids)), segment_ids, class_ids,
      is_crowd, is_thing, source_id=item.name).SerializeToString()


def find_class_file(root: str) -> Optional[str]:
  for name in ('classes.json', 'classes.yaml', 'classes.yml'):
    if os.path.exists(os.path.join(root, name)):
      return os.path.join(root, name)
  return None


def convert_generic_folder(root: str, output_dir: str, split: str = 'train',
                           class_file: Optional[str] = None,
                           image_dir: str = 'images',
                           semantic_dir: str = 'semantic',
                           instance_dir: str = 'instance',
                           ignore_label: int = 255,
                           label_divisor: int = LABEL_DIVISOR,
                           **convert_kwargs) -> driver.ConversionReport:
  """Converts a generic folder (module docstring) into one split.

  Sub-folder names are relative to root. class_file defaults to
  root/classes.json or root/classes.yaml.
  """
  class_file = class_file or find_class_file(root)
  if class_file is None:
    raise encoding_lib.DatasetError(
        f'{root}: no classes.json or classes.yaml; pass class_file '
        '(--class_file)')
  class_list = read_class_file(class_file, ignore_label)
  items, early = list_items(os.path.join(root, image_dir),
                            os.path.join(root, semantic_dir),
                            os.path.join(root, instance_dir))
  return driver.convert(
      items,
      validate=lambda item: validate_item(item, class_list, class_file,
                                          label_divisor),
      serialize=lambda item: serialize_item(item, class_list),
      source_files=lambda item: [item.image_path, item.semantic_path,
                                 item.instance_path],
      output_dir=output_dir, split=split, classes=class_list.classes,
      early_problems=early,
      classes_extra={'dataset': 'generic_folder',
                     'ignore_label': class_list.ignore_label},
      encoding=encoding_lib.PanopticEncoding.from_classes(
          class_list.classes, label_divisor),
      **convert_kwargs)
