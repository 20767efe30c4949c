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
"categories" and the "skipped" files with their reasons), and
output_dir/vis/<name>_overlay.png (semantic colours + instance outlines),
<name>_center.png (center heatmap) and <name>_offsets.png (offset field).
Grayscale, RGBA and 16-bit images are converted to 8-bit RGB.

An image that fails (not a readable image, out of memory, any other
error) is reported on stderr with its reason and skipped; every other
image is written. panoptic.json is rewritten atomically as images finish,
so it is valid and lists the finished images even if the run is killed.
Images whose longest side exceeds --max_image_size (default 2049) are
predicted resized to it and the outputs mapped back to the file's size
(label maps by nearest pixel).

With --experiment and --checkpoint_path but no --config_file, the
params.yaml that training wrote beside the checkpoint is the config.

Exit status: 0 every image predicted; 3 finished, some images skipped;
1 an error (bad flag, config, model or checkpoint) stopped it first.
"""

from absl import app
from absl import flags

from axial_deeplab_tf.serving import size_limit
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
flags.DEFINE_integer('max_image_size', size_limit.DEFAULT_MAX_IMAGE_SIZE,
                     'Longest image side given to the model: larger images '
                     'are resized down (aspect ratio kept) and the outputs '
                     'mapped back to their size (label maps by nearest '
                     'pixel); 0: no limit.')
flags.DEFINE_bool('progress', True, 'Show a progress bar.')
flags.adopt_module_key_flags(cli)  # --help lists the shared flags too
FLAGS = flags.FLAGS


def main(argv):
  del argv
  return cli.report_errors(lambda: cli.predict_from_flags(FLAGS))


if __name__ == '__main__':
  app.run(main)
