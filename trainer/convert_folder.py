r"""Converts a generic panoptic folder (users' own data) into TFRecords.

  <root>/images/<name>.jpg|.jpeg|.png   RGB image
  <root>/semantic/<name>.png            class id per pixel (8/16-bit, one
                                        channel); --ignore_label = void
  <root>/instance/<name>.png            instance id per pixel (8/16-bit),
                                        0 = no instance
  <root>/classes.json | classes.yaml    [{id, name, isthing}, ...]

Files are matched by <name>: every image needs both label PNGs; a label
PNG without an image, or two images of one name (a.jpg and a.png), is a
problem. Instance ids are per image: on thing-class pixels each distinct
non-zero id is one instance (the same id under two thing classes is two
instances), 0 is crowd; on stuff pixels the instance PNG is ignored (a
stuff class is one segment). Class ids are the semantic values; sorted,
they become 0..K-1.

One run per split, into the same --output_dir (one classes.json; a second
run with other classes stops):

  python trainer/convert_folder.py --root=my_data/train \
    --output_dir=data/mine --split=train
  python trainer/convert_folder.py --root=my_data/val \
    --class_file=my_data/train/classes.json --output_dir=data/mine --split=val

Everything is validated before anything is written; at the end the values
to set in the experiment are printed, e.g. for classes ground (0), tree
(4, a thing) and sky (9):

  config values for this dataset (--params_override, joined by commas):
    task.model.num_classes=3
    task.model.thing_class_ids=[1]
    task.model.post_processing.label_divisor=256
    task.model.post_processing.void_label=255

See docs/data.md ("Converters").
"""

from absl import app
from absl import flags

from axial_deeplab_tf.data.converters import flags_common
from axial_deeplab_tf.data.converters import generic_folder
from axial_deeplab_tf.train import cli

flags.DEFINE_string('root', None, 'Dataset folder.')
flags.DEFINE_string('class_file', None,
                    'Class list (default <root>/classes.json or .yaml).')
flags.DEFINE_string('image_subdir', 'images', 'Image folder under root.')
flags.DEFINE_string('semantic_subdir', 'semantic',
                    'Semantic PNG folder under root.')
flags.DEFINE_string('instance_subdir', 'instance',
                    'Instance PNG folder under root.')
flags.DEFINE_integer('ignore_label', 255,
                     'Semantic value of void pixels (the class file may '
                     'override it).')
flags.DEFINE_integer('label_divisor', generic_folder.LABEL_DIVISOR,
                     'Panoptic label divisor recorded in classes.json (more '
                     'than the instances of any image).')
flags_common.define_common_flags()
flags.adopt_module_key_flags(flags_common)
FLAGS = flags.FLAGS


def main(argv):
  del argv
  return cli.report_errors(lambda: flags_common.run_converter(
      generic_folder.convert_generic_folder, FLAGS.root,
      class_file=FLAGS.class_file, image_dir=FLAGS.image_subdir,
      semantic_dir=FLAGS.semantic_subdir, instance_dir=FLAGS.instance_subdir,
      ignore_label=FLAGS.ignore_label, label_divisor=FLAGS.label_divisor))


if __name__ == '__main__':
  flags.mark_flags_as_required(['root', 'output_dir'])
  app.run(main)
