"""What the absl mains in trainer/ share: flags, flag parsing, error report.

- `define_experiment_flags()`: --experiment, --config_file,
  --params_override (every main that reads an experiment), and
  `define_checkpoint_flag()`: --checkpoint_path (export and predict).
- `params_from_flags(values)`: `experiment.load_experiment` on those flags
  (plus --tpu when defined).
- `export_module_from_flags(values, **options)`: the experiment's export
  module restored from --checkpoint_path.
- `predictor_from_flags(values)`: a SavedModel predictor
  (--saved_model_dir) or an in-process one (--experiment and
  --checkpoint_path).
- `predict_from_flags(values)`: trainer/predict.py's run: image files in,
  COCO panoptic PNGs + JSON and pictures out.
- `require(values, *names)`, `image_size(values, name)`,
  `signature_keys(input_types)`: checks of single flags.
- `report_errors(body)`: runs a main's body; a user error (`USER_ERRORS`)
  prints `ERROR: <message>` on stderr and gives exit status 1, without a
  traceback, the same way in every main.
"""

import sys
from typing import Callable, List, Optional, Sequence, Tuple

from absl import flags
from official.core import config_definitions as cfg

from axial_deeplab_tf import visualization
from axial_deeplab_tf.data import encoding as encoding_lib
from axial_deeplab_tf.serving import coco_panoptic_format
from axial_deeplab_tf.serving import image_files
from axial_deeplab_tf.serving import predictor as predictor_lib
from axial_deeplab_tf.tasks import checkpoint_restore
from axial_deeplab_tf.train import actions
from axial_deeplab_tf.train import experiment
from axial_deeplab_tf.train import export as experiment_export

# Errors a main reports as one message with exit status 1.
USER_ERRORS = (experiment.ConfigError, checkpoint_restore.CheckpointError,
               encoding_lib.DatasetError, actions.TrainingStopped)

# --input_type values of the SavedModel export -> signature keys.
INPUT_TYPES = {'image_tensor': 'serving_default',
               'image_bytes': 'image_bytes', 'tf_example': 'tf_example'}


def define_experiment_flags() -> None:
  """--experiment, --config_file, --params_override."""
  flags.DEFINE_string('experiment', None,
                      'Registered experiment name, e.g. axial_deeplab_shapes '
                      '(docs/training.md lists them).')
  flags.DEFINE_multi_string('config_file', None,
                            'YAML file overriding the experiment config; '
                            'repeatable, applied in order.')
  flags.DEFINE_string('params_override', '',
                      'Config overrides applied last: YAML/JSON text or '
                      'a.b=1,c.d=[1,2].')


def define_checkpoint_flag() -> None:
  """--checkpoint_path."""
  flags.DEFINE_string(experiment_export.CHECKPOINT_FLAG.lstrip('-'), None,
                      'Checkpoint prefix (<dir>/ckpt-N) or folder (its '
                      'latest checkpoint).')


def params_from_flags(values: flags.FlagValues) -> cfg.ExperimentConfig:
  """The experiment config the experiment flags (and --tpu) describe."""
  return experiment.load_experiment(
      values.experiment, values.config_file, values.params_override,
      getattr(values, 'tpu', None))


def require(values: flags.FlagValues, *names: str) -> None:
  """Raises ConfigError naming the first flag of `names` left unset."""
  for name in names:
    if not getattr(values, name):
      raise experiment.ConfigError(f'--{name} is required.')


def image_size(values: flags.FlagValues, name: str
               ) -> Optional[Tuple[int, int]]:
  """(height, width) from a list flag, or None when it is unset."""
  sizes = getattr(values, name)
  if not sizes:
    return None
  try:
    height, width = (int(v) for v in sizes)
  except ValueError:
    raise experiment.ConfigError(
        f'--{name}: expected height,width (two ints), got '
        f'{",".join(sizes)}.') from None
  return height, width


def signature_keys(input_types: List[str]) -> List[str]:
  """SavedModel signature keys of --input_type, serving_default first."""
  unknown = [t for t in input_types if t not in INPUT_TYPES]
  if unknown:
    raise experiment.ConfigError(
        f'--input_type: unknown {unknown}; expected some of '
        f'{sorted(INPUT_TYPES)}.')
  keys = ['serving_default'] + [INPUT_TYPES[t] for t in input_types]
  return list(dict.fromkeys(keys))


def export_module_from_flags(values: flags.FlagValues,
                             required: Sequence[str] = (), **options):
  """(params, export module) from the experiment and checkpoint flags.

  Args:
    values: flags with the experiment flags and --checkpoint_path.
    required: other flags checked to be set before the module is built.
    **options: `experiment_export.build_export_module` options.
  """
  params = params_from_flags(values)
  require(values, 'checkpoint_path', *required)
  return params, experiment_export.build_export_module(
      params, values.checkpoint_path, **options)


def predictor_from_flags(values: flags.FlagValues):
  """A predictor of panoptic exports: from --saved_model_dir, or from
  --experiment with --checkpoint_path."""
  if bool(values.saved_model_dir) == bool(values.experiment):
    raise experiment.ConfigError(
        'give exactly one of --saved_model_dir or --experiment (with '
        '--checkpoint_path).')
  if values.saved_model_dir:
    try:
      return predictor_lib.SavedModelPredictor(values.saved_model_dir)
    except ValueError as e:  # its message starts with 'saved_model_dir:'
      raise experiment.ConfigError(f'--{e}') from None
  params = params_from_flags(values)
  if not experiment_export.is_panoptic(params):
    raise experiment.ConfigError(
        f'--experiment: {values.experiment} is not a panoptic experiment.')
  require(values, 'checkpoint_path')
  return predictor_lib.ModulePredictor(experiment_export.build_export_module(
      params, values.checkpoint_path, output_instance_masks=False))


def predict_from_flags(values: flags.FlagValues) -> None:
  """Predicts every image of --inputs into --output_dir (see
  `predictor.predict_files`), with the palette and classes flags."""
  require(values, 'inputs', 'output_dir')
  paths, problems = image_files.collect_image_paths(values.inputs)
  for problem in problems:
    print(f'warning: {problem}', file=sys.stderr)
  if not paths:
    raise experiment.ConfigError('--inputs matched no files.')
  predictor = predictor_from_flags(values)
  num_classes = predictor.encoding.num_classes
  try:
    palette = visualization.get_palette(
        values.palette, num_classes if values.palette == 'generic' else None)
  except ValueError as e:
    raise experiment.ConfigError(f'--palette={values.palette}: {e}') from None
  category_map, categories = None, None
  if values.classes_json:
    category_map, categories = (
        coco_panoptic_format.category_map_from_classes_json(
            values.classes_json))
  result = predictor_lib.predict_files(
      predictor, paths, values.output_dir, palette, category_map, categories,
      alpha=values.alpha, show_progress=values.progress,
      log=lambda message: print(message, file=sys.stderr))
  print(f'predicted {len(result["annotations"])} images, skipped '
        f'{len(result["skipped"])}; panoptic PNGs and panoptic.json in '
        f'{values.output_dir}, pictures in {values.output_dir}/vis')


def report_errors(body: Callable[[], Optional[int]]) -> int:
  """Runs a main's body; returns its exit status (None -> 0).

  A `USER_ERRORS` exception prints `ERROR: <message>` on stderr and gives
  1; any other exception propagates with its traceback (a bug).
  """
  try:
    return body() or 0
  except USER_ERRORS as e:
    print(f'ERROR: {e}', file=sys.stderr, flush=True)
    return 1
