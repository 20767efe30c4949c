r"""Converts an image-folder classification dataset (one folder per class).

  <root>/<class name>/<any name>.jpg|.jpeg|.png|.bmp|.gif|.webp

One run per split, into the same --output_dir (one classes.json; a second
run with other classes stops):

  python trainer/convert_classification_folder.py --root=my_images/train \
    --output_dir=data/my_cls --split=train
  python trainer/convert_classification_folder.py --root=my_images/val \
    --output_dir=data/my_cls --split=val

Labels are the sorted folder names unless --class_names gives the order;
every split needs the same class folders. At the end the value to set in
the experiment is printed, e.g. for 3 class folders:

  config values for this dataset (--params_override, joined by commas):
    task.model.num_classes=3

See docs/data.md ("Converters").
"""


from absl import app
from absl import flags

from axial_deeplab_tf.data.converters import classification_folder
from axial_deeplab_tf.data.converters import flags_common
from axial_deeplab_tf.train import cli

flags.DEFINE_string('root', None, 'Folder with one sub-folder per class.')
flags.DEFINE_list('class_names', None,
                  'Class folder names in label order (default: sorted).')
flags_common.define_common_flags()
flags.adopt_module_key_flags(flags_common)
FLAGS = flags.FLAGS


def main(argv):
  del argv
  return cli.report_errors(lambda: flags_common.run_converter(
      classification_folder.convert_classification_folder, FLAGS.root,
      class_names=FLAGS.class_names))


if __name__ == '__main__':
  flags.mark_flags_as_required(['root', 'output_dir'])
  app.run(main)
