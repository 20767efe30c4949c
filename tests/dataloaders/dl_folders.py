"""Builds tiny source datasets on disk for the converter tests.

Each builder writes a folder in a public layout and returns what the test
needs to check a round trip: per image the original id map and the segment
table the test wrote, independent of the converter code.
"""

import json
import os

import numpy as np
from PIL import Image


def save_png(path, array):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  Image.fromarray(array).save(path)


def save_jpeg(path, array):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  Image.fromarray(array).save(path, quality=95)


def ids_to_rgb(ids):
  """COCO id encoding written here independently: R + 256 G + 256^2 B."""
  ids = np.asarray(ids, np.int64)
  return np.stack([ids & 255, (ids >> 8) & 255, (ids >> 16) & 255],
                  -1).astype(np.uint8)


def random_image(rng, h, w):
  return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


COCO_CATEGORIES = [
    {'id': 1, 'name': 'person', 'isthing': 1},
    {'id': 3, 'name': 'car', 'isthing': 1},
    {'id': 92, 'name': 'banner', 'isthing': 0},
    {'id': 200, 'name': 'rug', 'isthing': 0},
]


def coco_id_maps(rng, n, h, w):
  """n (ids [h, w], segments_info) pairs with things, stuff, crowd, void."""
  out = []
  for i in range(n):
    ids = np.zeros((h, w), np.int64)
    ids[:, : w // 2] = 7001 + i            # stuff banner
    ids[:, w // 2:] = 2**24 - 2 - i        # stuff rug, needs the B channel
    ids[2:7, 3:9] = 300 + i                # person
    ids[8:12, 10:18] = 65536 * 3 + 5       # car, crowd
    ids[0, :] = 0                          # void row
    if i % 2:
      ids[10:14, 1:5] = 301 + i            # second person
    segments = [{'id': 7001 + i, 'category_id': 92, 'iscrowd': 0},
                {'id': 2**24 - 2 - i, 'category_id': 200, 'iscrowd': 0},
                {'id': 300 + i, 'category_id': 1, 'iscrowd': 0},
                {'id': 65536 * 3 + 5, 'category_id': 3, 'iscrowd': 1}]
    if i % 2:
      segments.append({'id': 301 + i, 'category_id': 1, 'iscrowd': 0})
    rng.shuffle(segments)
    out.append((ids, segments))
  return out


def write_coco(root, rng, n=3, h=16, w=24):
  """COCO panoptic layout; returns {file_name: (image, ids, segments)}."""
  images, annotations, truth = [], [], {}
  for i, (ids, segments) in enumerate(coco_id_maps(rng, n, h, w)):
    name = f'{i:012d}'
    image = random_image(rng, h, w)
    if i == 0:
      save_png(os.path.join(root, 'val2017', name + '.png'), image)
      file_name = name + '.png'
    else:
      save_jpeg(os.path.join(root, 'val2017', name + '.jpg'), image)
      file_name = name + '.jpg'
    save_png(os.path.join(root, 'panoptic_val2017', name + '.png'),
             ids_to_rgb(ids))
    images.append({'id': i, 'file_name': file_name, 'height': h, 'width': w})
    annotations.append({'image_id': i, 'file_name': name + '.png',
                        'segments_info': segments})
    truth[file_name] = (image, ids, segments)
  with open(os.path.join(root, 'panoptic_val2017.json'), 'w') as f:
    json.dump({'images': images, 'annotations': annotations,
               'categories': COCO_CATEGORIES}, f)
  return truth


CITYSCAPES_CATEGORIES = [  # trainId ids, as with --use-train-id
    {'id': 0, 'name': 'road', 'isthing': 0},
    {'id': 2, 'name': 'building', 'isthing': 0},
    {'id': 11, 'name': 'person', 'isthing': 1},
    {'id': 13, 'name': 'car', 'isthing': 1},
]


def write_cityscapes(root, rng, h=16, w=32):
  """Cityscapes panoptic layout (ids as createPanopticImgs writes them)."""
  images, annotations, truth = [], [], {}
  for city, idx in (('aachen', 0), ('bonn', 1), ('bonn', 2)):
    image_id = f'{city}_000000_{idx:06d}'
    ids = np.full((h, w), 7, np.int64)    # road (labelId 7)
    ids[: h // 2] = 11                    # building (labelId 11)
    ids[4:10, 4:8] = 24000 + idx          # person instance
    ids[9:14, 20:30] = 26001              # car instance
    ids[12:16, 0:3] = 26                  # car region without instance: crowd
    ids[15, 10:] = 0                      # unlabeled
    segments = [{'id': 7, 'category_id': 0, 'iscrowd': 0},
                {'id': 11, 'category_id': 2, 'iscrowd': 0},
                {'id': 24000 + idx, 'category_id': 11, 'iscrowd': 0},
                {'id': 26001, 'category_id': 13, 'iscrowd': 0},
                {'id': 26, 'category_id': 13, 'iscrowd': 1}]
    image = random_image(rng, h, w)
    save_png(os.path.join(root, 'leftImg8bit', 'val', city,
                          image_id + '_leftImg8bit.png'), image)
    save_png(os.path.join(root, 'gtFine', 'cityscapes_panoptic_val',
                          image_id + '_gtFine_panoptic.png'), ids_to_rgb(ids))
    # createPanopticImgs names the image '<id>_gtFine_leftImg8bit.png',
    # which is no file: the image is found from its id.
    images.append({'id': image_id,
                   'file_name': image_id + '_gtFine_leftImg8bit.png',
                   'height': h, 'width': w})
    annotations.append({'image_id': image_id,
                        'file_name': image_id + '_gtFine_panoptic.png',
                        'segments_info': segments})
    truth[image_id + '_leftImg8bit.png'] = (image, ids, segments)
  with open(os.path.join(root, 'gtFine', 'cityscapes_panoptic_val.json'),
            'w') as f:
    json.dump({'images': images, 'annotations': annotations,
               'categories': CITYSCAPES_CATEGORIES}, f)
  return truth


GENERIC_CLASSES = [{'id': 0, 'name': 'ground', 'isthing': False},
                   {'id': 4, 'name': 'tree', 'isthing': True},
                   {'id': 9, 'name': 'sky', 'isthing': False}]


def write_generic(root, rng, n=3, h=20, w=20, yaml_classes=False):
  """Generic layout; returns {name: (image, semantic, instance)}."""
  truth = {}
  for i in range(n):
    semantic = np.zeros((h, w), np.uint8)
    semantic[: h // 3] = 9
    semantic[h // 2:, w // 2:] = 255     # void
    instance = np.zeros((h, w), np.uint16)
    semantic[8:12, 2:6] = 4
    instance[8:12, 2:6] = 300 + i        # 16-bit instance id
    semantic[2:5, 10:14] = 4
    instance[2:5, 10:14] = 1
    semantic[14:18, 1:4] = 4             # tree without instance: crowd
    instance[0:3, 0:2] = 7               # instance id on stuff: ignored
    image = random_image(rng, h, w)
    name = f'img{i}'
    save_jpeg(os.path.join(root, 'images', name + '.jpg'), image)
    save_png(os.path.join(root, 'semantic', name + '.png'), semantic)
    save_png(os.path.join(root, 'instance', name + '.png'), instance)
    truth[name] = (image, semantic, instance)
  if yaml_classes:
    with open(os.path.join(root, 'classes.yaml'), 'w') as f:
      f.write('ignore_label: 255\nclasses:\n')
      for c in GENERIC_CLASSES:
        f.write(f"  - {{id: {c['id']}, name: {c['name']}, "
                f"isthing: {str(c['isthing']).lower()}}}\n")
  else:
    with open(os.path.join(root, 'classes.json'), 'w') as f:
      json.dump(GENERIC_CLASSES, f)
  return truth


def write_classification(root, rng, classes=('cat', 'dog', 'eel'), per=2):
  """root/<class>/<i>.png|jpg; returns {relative path: (image, label)}."""
  truth = {}
  for label, name in enumerate(classes):
    for i in range(per):
      image = random_image(rng, 10 + i, 12)
      rel = os.path.join(name, f'{i}.png' if i % 2 == 0 else f'{i}.jpg')
      (save_png if i % 2 == 0 else save_jpeg)(os.path.join(root, rel), image)
      truth[rel] = (image, label)
  return truth
