r"""Converts a COCO panoptic split into axial-deeplab-tf TFRecords.

  python trainer/convert_coco_panoptic.py \
    --image_dir=coco/train2017 --panoptic_dir=coco/panoptic_train2017 \
    --json_path=coco/annotations/panoptic_train2017.json \
    --output_dir=data/coco --split=train --num_shards=256
  python trainer/convert_coco_panoptic.py \
    --image_dir=coco/val2017 --panoptic_dir=coco/panoptic_val2017 \
    --json_path=coco/annotations/panoptic_val2017.json \
    --output_dir=data/coco --split=val --num_shards=32

One run per split, into the same --output_dir (one classes.json; a second
run with other classes stops). Files: each annotation's label PNG is
--panoptic_dir/<annotation file_name>, its image --image_dir/<file_name of
the "images" entry with its image_id>. A JSON with only "annotations"
(deeplab2 style) pairs the image by name (the label's stem with .jpg, .jpeg
or .png) and needs --categories_json for the classes. Segments are the
JSON's segments_info (ids = R + 256 G + 65536 B of the PNG; iscrowd marks
crowd regions); every id in the PNG must be listed and every listed id
present. Everything is validated before anything is written; at the end
the values to set in the experiment are printed:

  config values for this dataset (--params_override, joined by commas):
    task.model.num_classes=133
    task.model.thing_class_ids=[0,1,2,...,79]   (all 80 ids, written out)
    task.model.post_processing.label_divisor=256
    task.model.post_processing.void_label=255

See docs/data.md ("Converters").
"""


from absl import app
from absl import flags

from axial_deeplab_tf.data.converters import coco_panoptic
from axial_deeplab_tf.data.converters import flags_common
from axial_deeplab_tf.train import cli

flags.DEFINE_string('image_dir', None, 'Folder of the images (val2017/).')
flags.DEFINE_string('panoptic_dir', None,
                    'Folder of the panoptic PNGs (panoptic_val2017/).')
flags.DEFINE_string('json_path', None, 'The panoptic JSON file.')
flags_common.define_categories_flag()
flags_common.define_common_flags()
flags.adopt_module_key_flags(flags_common)
FLAGS = flags.FLAGS


def main(argv):
  del argv
  return cli.report_errors(lambda: flags_common.run_converter(
      coco_panoptic.convert_coco_panoptic, FLAGS.image_dir,
      FLAGS.panoptic_dir, FLAGS.json_path,
      categories_json=FLAGS.categories_json))


if __name__ == '__main__':
  flags.mark_flags_as_required(['image_dir', 'panoptic_dir', 'json_path',
                                'output_dir'])
  app.run(main)
