r"""Converts a Cityscapes panoptic split into axial-deeplab-tf TFRecords.

First run cityscapesscripts' createPanopticImgs (optionally --use-train-id),
then:

  python trainer/convert_cityscapes_panoptic.py \
    --image_dir=cityscapes/leftImg8bit/val \
    --panoptic_dir=cityscapes/gtFine/cityscapes_panoptic_val \
    --json_path=cityscapes/gtFine/cityscapes_panoptic_val.json \
    --output_dir=data/cityscapes --split=val --num_shards=16

Everything is validated before anything is written; see docs/data.md.
"""


from absl import app
from absl import flags

from axial_deeplab_tf.data.converters import cityscapes_panoptic
from axial_deeplab_tf.data.converters import flags_common

flags.DEFINE_string('image_dir', None,
                    'leftImg8bit/<split> folder (with one folder per city).')
flags.DEFINE_string('panoptic_dir', None,
                    'gtFine/cityscapes_panoptic_<split> PNG folder.')
flags.DEFINE_string('json_path', None,
                    'gtFine/cityscapes_panoptic_<split>.json.')
flags_common.define_common_flags()
FLAGS = flags.FLAGS


def main(argv):
  del argv
  return flags_common.run_converter(
      cityscapes_panoptic.convert_cityscapes_panoptic, FLAGS.image_dir,
      FLAGS.panoptic_dir, FLAGS.json_path)


if __name__ == '__main__':
  flags.mark_flags_as_required(['image_dir', 'panoptic_dir', 'json_path',
                                'output_dir'])
  app.run(main)
