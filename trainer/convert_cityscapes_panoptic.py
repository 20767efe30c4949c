r"""Converts a Cityscapes panoptic split into axial-deeplab-tf TFRecords.

First run cityscapesscripts' createPanopticImgs (with --use-train-id for
trainId labels, as deeplab2 does; both kinds convert to the same 19
classes), then one run per split, into the same --output_dir:

  python trainer/convert_cityscapes_panoptic.py \
    --image_dir=cityscapes/leftImg8bit/train \
    --panoptic_dir=cityscapes/gtFine/cityscapes_panoptic_train \
    --json_path=cityscapes/gtFine/cityscapes_panoptic_train.json \
    --output_dir=data/cityscapes --split=train --num_shards=32
  (the same with val for --split=val)

Files: each annotation's label PNG is --panoptic_dir/<annotation
file_name>, its image --image_dir/<city>/<image_id>_leftImg8bit.png, the
city being the image id up to its first underscore. The flat layout (all
images in --image_dir itself) and label PNGs in city folders are found as
well. A JSON with only "annotations" (deeplab2 style) needs
--categories_json (e.g. the cityscapes_panoptic_val.json of
createPanopticImgs). Segment rules as for COCO: ids = R + 256 G + 65536 B
of the PNG, each listed in segments_info with its category and iscrowd.
Everything is validated before anything is written; at the end the values
to set in the experiment are printed:

  config values for this dataset (--params_override, joined by commas):
    task.model.num_classes=19
    task.model.thing_class_ids=[11,12,13,14,15,16,17,18]
    task.model.post_processing.label_divisor=1000
    task.model.post_processing.void_label=255

See docs/data.md ("Converters").
"""


from absl import app
from absl import flags

from axial_deeplab_tf.data.converters import cityscapes_panoptic
from axial_deeplab_tf.data.converters import flags_common
from axial_deeplab_tf.train import cli

flags.DEFINE_string('image_dir', None,
                    'leftImg8bit/<split> folder (one folder per city, or '
                    'all images in it).')
flags.DEFINE_string('panoptic_dir', None,
                    'gtFine/cityscapes_panoptic_<split> PNG folder.')
flags.DEFINE_string('json_path', None,
                    'gtFine/cityscapes_panoptic_<split>.json.')
flags_common.define_categories_flag()
flags_common.define_common_flags()
flags.adopt_module_key_flags(flags_common)
FLAGS = flags.FLAGS


def main(argv):
  del argv
  return cli.report_errors(lambda: flags_common.run_converter(
      cityscapes_panoptic.convert_cityscapes_panoptic, FLAGS.image_dir,
      FLAGS.panoptic_dir, FLAGS.json_path,
      categories_json=FLAGS.categories_json))


if __name__ == '__main__':
  flags.mark_flags_as_required(['image_dir', 'panoptic_dir', 'json_path',
                                'output_dir'])
  app.run(main)
