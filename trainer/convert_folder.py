r"""Converts a generic panoptic folder (users' own data) into TFRecords.

  <root>/images/*.jpg|png, <root>/semantic/*.png, <root>/instance/*.png,
  <root>/classes.json or classes.yaml ([{id, name, isthing}, ...]).

  python trainer/convert_folder.py --root=my_data --output_dir=data/mine \
    --split=train

See docs/data.md for the exact rules (void, crowd, class ids).
"""

from absl import app
from absl import flags

from axial_deeplab_tf.data.converters import flags_common
from axial_deeplab_tf.data.converters import generic_folder

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
FLAGS = flags.FLAGS


def main(argv):
  del argv
  return flags_common.run_converter(
      generic_folder.convert_generic_folder, FLAGS.root,
      class_file=FLAGS.class_file, image_dir=FLAGS.image_subdir,
      semantic_dir=FLAGS.semantic_subdir, instance_dir=FLAGS.instance_subdir,
      ignore_label=FLAGS.ignore_label, label_divisor=FLAGS.label_divisor)


if __name__ == '__main__':
  flags.mark_flags_as_required(['root', 'output_dir'])
  app.run(main)
