r"""Converts a COCO panoptic split into axial-deeplab-tf TFRecords.

  python trainer/convert_coco_panoptic.py \
    --image_dir=coco/val2017 --panoptic_dir=coco/panoptic_val2017 \
    --json_path=coco/annotations/panoptic_val2017.json \
    --output_dir=data/coco --split=val --num_shards=32

Everything is validated before anything is written; see docs/data.md.
"""


from absl import app
from absl import flags

from axial_deeplab_tf.data.converters import coco_panoptic
from axial_deeplab_tf.data.converters import flags_common

flags.DEFINE_string('image_dir', None, 'Folder of the images (val2017/).')
flags.DEFINE_string('panoptic_dir', None,
                    'Folder of the panoptic PNGs (panoptic_val2017/).')
flags.DEFINE_string('json_path', None, 'The panoptic JSON file.')
flags_common.define_common_flags()
FLAGS = flags.FLAGS


def main(argv):
  del argv
  return flags_common.run_converter(
      coco_panoptic.convert_coco_panoptic, FLAGS.image_dir,
      FLAGS.panoptic_dir, FLAGS.json_path)


if __name__ == '__main__':
  flags.mark_flags_as_required(['image_dir', 'panoptic_dir', 'json_path',
                                'output_dir'])
  app.run(main)
