r"""Panoptic prediction on image files, folders or globs.

From an exported SavedModel (see trainer/export_saved_model.py):

  python trainer/predict.py --saved_model_dir=exports/demo \
    --inputs=photos/,extra/*.jpg --output_dir=predictions --palette=synthetic

or from a checkpoint of an experiment:

  python trainer/predict.py --experiment=axial_deeplab_synthetic_demo \
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

import sys

from absl import app
from absl import flags

from axial_deeplab_tf import visualization
from axial_deeplab_tf.serving import coco_panoptic_format
from axial_deeplab_tf.serving import image_files
from axial_deeplab_tf.serving import predictor as predictor_lib

flags.DEFINE_string('saved_model_dir', None,
                    'SavedModel version directory, or a base path whose '
                    'highest version is used.')
flags.DEFINE_string('experiment', None,
                    'Registered experiment (with --checkpoint_path), '
                    'instead of --saved_model_dir.')
flags.DEFINE_multi_string('config_file', None,
                          'YAML files overriding the experiment config.')
flags.DEFINE_string('params_override', '',
                    'Config overrides as a YAML/JSON string.')
flags.DEFINE_string('checkpoint_path', None,
                    'Checkpoint prefix or directory for --experiment.')
flags.DEFINE_list('inputs', None, 'Image files, folders or glob patterns.')
flags.DEFINE_string('output_dir', None, 'Where outputs are written.')
flags.DEFINE_string('palette', 'generic',
                    "Class colours: 'synthetic', 'coco', 'cityscapes' or "
                    "'generic'.")
flags.DEFINE_string('classes_json', None,
                    'classes.json of the dataset: JSON category ids become '
                    'its source ids, and categories get its names.')
flags.DEFINE_float('alpha', 0.5, 'Weight of the class colours in overlays.')
flags.DEFINE_bool('progress', True, 'Show a progress bar.')
FLAGS = flags.FLAGS


def build_predictor():
  """A SavedModelPredictor or ModulePredictor from the flags."""
  if bool(FLAGS.saved_model_dir) == bool(FLAGS.experiment):
    raise app.UsageError('Give exactly one of --saved_model_dir or '
                         '--experiment (with --checkpoint_path).')
  if FLAGS.saved_model_dir:
    return predictor_lib.SavedModelPredictor(FLAGS.saved_model_dir)
  from axial_deeplab_tf.serving import experiment_export  # pylint: disable=g-import-not-at-top
  if not FLAGS.checkpoint_path:
    raise app.UsageError('--experiment needs --checkpoint_path.')
  params = experiment_export.load_params(FLAGS.experiment, FLAGS.config_file,
                                         FLAGS.params_override)
  if not experiment_export.is_panoptic(params):
    raise app.UsageError(f'--experiment: {FLAGS.experiment} is not a '
                         f'panoptic experiment.')
  module = experiment_export.build_export_module(
      params, FLAGS.checkpoint_path, output_instance_masks=False)
  return predictor_lib.ModulePredictor(module)


def main(argv):
  del argv
  if not FLAGS.inputs or not FLAGS.output_dir:
    raise app.UsageError('--inputs and --output_dir are required.')
  paths, problems = image_files.collect_image_paths(FLAGS.inputs)
  for problem in problems:
    print(f'warning: {problem}', file=sys.stderr)
  if not paths:
    print('error: --inputs matched no files.', file=sys.stderr)
    return 1
  predictor = build_predictor()
  if predictor.metadata.get('task', 'panoptic') != 'panoptic':
    raise app.UsageError('--saved_model_dir: not a panoptic export.')
  num_classes = predictor.metadata.get('num_classes') or 256
  palette = visualization.get_palette(
      FLAGS.palette, num_classes if FLAGS.palette == 'generic' else None)
  category_map, categories = None, None
  if FLAGS.classes_json:
    category_map, categories = (
        coco_panoptic_format.category_map_from_classes_json(
            FLAGS.classes_json))
  result = predictor_lib.predict_files(
      predictor, paths, FLAGS.output_dir, palette, category_map, categories,
      alpha=FLAGS.alpha, show_progress=FLAGS.progress,
      log=lambda message: print(message, file=sys.stderr))
  print(f'predicted {len(result["annotations"])} images, skipped '
        f'{len(result["skipped"])}; panoptic PNGs and panoptic.json in '
        f'{FLAGS.output_dir}, pictures in {FLAGS.output_dir}/vis')
  return 0


if __name__ == '__main__':
  app.run(main)
