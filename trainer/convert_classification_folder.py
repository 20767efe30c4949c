r"""Converts an image-folder classification dataset (one folder per class).

  python trainer/convert_classification_folder.py --root=my_images/train \
    --output_dir=data/my_cls --split=train

Labels are the sorted folder names unless --class_names gives the order.
"""


from absl import app
from absl import flags

from axial_deeplab_tf.data.converters import classification_folder
from axial_deeplab_tf.data.converters import flags_common

flags.DEFINE_string('root', None, 'Folder with one sub-folder per class.')
flags.DEFINE_list('class_names', None,
                  'Class folder names in label order (default: sorted).')
flags_common.define_common_flags()
FLAGS = flags.FLAGS


def main(argv):
  del argv
  return flags_common.run_converter(
      classification_folder.convert_classification_folder, FLAGS.root,
      class_names=FLAGS.class_names)


if __name__ == '__main__':
  flags.mark_flags_as_required(['root', 'output_dir'])
  app.run(main)
