r"""Prints converted-size / source-size ratios of the panoptic converters.

Builds source folders from synthetic scenes (JPEG images, label PNGs) in
the COCO panoptic layout and in the generic folder layout, converts them and
prints the ratio of the written shards to the source files (the issue asks
for <= 1.3x). Asserts nothing.

  python benchmarks/converted_size.py --image_size=512 --num_images=32
"""

import json
import os
import tempfile

from absl import app
from absl import flags
import numpy as np
from PIL import Image

from axial_deeplab_tf.data import schema
from axial_deeplab_tf.dataloaders import synthetic
from axial_deeplab_tf.data.converters import coco_panoptic
from axial_deeplab_tf.data.converters import generic_folder

flags.DEFINE_integer('num_images', 32, 'Images per layout.')
flags.DEFINE_integer('image_size', 512, 'Side of the images.')
FLAGS = flags.FLAGS


def _save(path, array, **kwargs):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  Image.fromarray(array).save(path, **kwargs)


def main(argv):
  del argv
  root = tempfile.mkdtemp(prefix='axial_size_')
  config = synthetic.SyntheticConfig(image_size=FLAGS.image_size,
                                     max_things=12)
  images, annotations = [], []
  for i in range(FLAGS.num_images):
    ex = synthetic.make_example(np.random.default_rng(i), config)
    _save(f'{root}/coco/images/{i}.jpg', ex['image'], quality=90)
    _save(f'{root}/coco/panoptic/{i}.png', schema.ids_to_rgb(ex['ids']))
    images.append({'id': i, 'file_name': f'{i}.jpg'})
    annotations.append({'image_id': i, 'file_name': f'{i}.png',
                        'segments_info': [
                            {'id': int(s), 'category_id': int(c),
                             'iscrowd': 0}
                            for s, c in zip(ex['segment_ids'],
                                            ex['class_ids'])]})
    # Generic layout: semantic = class id, instance = per-image number.
    sem = np.full(ex['ids'].shape, 255, np.uint8)
    inst = np.zeros(ex['ids'].shape, np.uint16)
    for k, (s, c) in enumerate(zip(ex['segment_ids'], ex['class_ids'])):
      sem[ex['ids'] == s] = c
      if c >= synthetic.NUM_STUFF:
        inst[ex['ids'] == s] = k + 1
    _save(f'{root}/generic/images/{i}.jpg', ex['image'], quality=90)
    _save(f'{root}/generic/semantic/{i}.png', sem)
    _save(f'{root}/generic/instance/{i}.png', inst)
  with open(f'{root}/coco/panoptic.json', 'w') as f:
    json.dump({'images': images, 'annotations': annotations,
               'categories': list(synthetic.CLASSES)}, f)
  with open(f'{root}/generic/classes.json', 'w') as f:
    json.dump(list(synthetic.CLASSES), f)
  kwargs = dict(num_shards=4, show_progress=False)
  coco = coco_panoptic.convert_coco_panoptic(
      f'{root}/coco/images', f'{root}/coco/panoptic',
      f'{root}/coco/panoptic.json', f'{root}/out_coco', **kwargs)
  generic = generic_folder.convert_generic_folder(
      f'{root}/generic', f'{root}/out_generic', **kwargs)
  for name, report in (('coco_panoptic', coco), ('generic_folder', generic)):
    print(f'{name}: {FLAGS.num_images} images {FLAGS.image_size}px, '
          f'source {report.source_bytes} B, converted {report.output_bytes} '
          f'B, ratio {report.size_ratio:.3f}x')


if __name__ == '__main__':
  app.run(main)
