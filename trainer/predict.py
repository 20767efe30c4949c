r"""Panoptic prediction on image files, folders or globs.

From an exported SavedModel (see trainer/export_saved_model.py):

  python trainer/predict.py --saved_model_dir=exports/demo \
    --inputs=photos/,extra/*.jpg --output_dir=predictions --palette=synthetic

or from a checkpoint of an experiment:

  python trainer/predict.py --experiment=axial_deeplab_shapes \
    --config_file=my.yaml --checkpoint_path=runs/demo \
    --inputs=photos/ --output_dir=predictions

Writes output_dir/panoptic/<name>.png (COCO panoptic id PNGs),
output_dir/panoptic.json (COCO "annotations" with segments_info, the
"categories" and the "skipped" files), and output_dir/vis/<name>_overlay.png
(semantic colours + instance outlines), <name>_center.png (center heatmap)
and <name>_offsets.png (offset field). Files that are not readable images
are reported and skipped; grayscale, RGBA and 16-bit images are converted
to 8-bit RGB.
"""

from absl import app
from absl import flags

from axial_deeplab_tf.train import cli

flags.DEFINE_string('saved_model_dir', None,
                    'SavedModel version directory, or a base path whose '
                    'highest version is used.')
cli.define_experiment_flags()
cli.define_checkpoint_flag()
flags.DEFINE_list('inputs', None, 'Image files, folders or glob patterns '
                  '(required).')
flags.DEFINE_string('output_dir', None, 'Where outputs are written '
                    '(required).')
flags.DEFINE_string('palette', 'generic',
                    "Class colours: 'synthetic', 'coco', 'cityscapes' or "
                    "'generic'.")
flags.DEFINE_string('classes_json', None,
                    'classes.json of the dataset: JSON category ids become '
                    'its source ids, and categories get its names.')
flags.DEFINE_float('alpha', 0.5, 'Weight of the class colours in overlays.')
flags.DEFINE_bool('progress', True, 'Show a progress bar.')
flags.adopt_module_key_flags(cli)  # --help lists the shared flags too
FLAGS = flags.FLAGS


def main(argv):
  del argv
  return cli.report_errors(lambda: cli.predict_from_flags(FLAGS))


if __name__ == '__main__':
  app.run(main)
