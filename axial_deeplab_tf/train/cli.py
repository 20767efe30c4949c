"""What the absl mains in trainer/ share: flags, flag parsing, error report.

- `define_experiment_flags()`: --experiment, --config_file,
  --params_override (every main that reads an experiment), and
  `define_checkpoint_flag()`: --checkpoint_path (export and predict).
- `params_from_flags(values)`: `experiment.load_experiment` on those flags
  (plus --tpu when defined).
- `checkpoint_params_from_flags(values)`: the same for a main that reads
  --checkpoint_path (export, predict): without --config_file, the run's
  own `params.yaml` (`experiment_export.run_config_file`) is the config
  file, so the overrides the model was trained with are kept; prints
  which config was used.
- `export_module_from_flags(values, **options)`: the experiment's export
  module restored from --checkpoint_path (prints the checkpoint and its
  step).
- `predictor_from_flags(values)`: a SavedModel predictor
  (--saved_model_dir; prints the checkpoint it was exported from) or an
  in-process one (--experiment and --checkpoint_path).
- `predict_from_flags(values)`: trainer/predict.py's run: image files in,
  COCO panoptic PNGs + JSON and pictures out; returns `EXIT_SKIPPED`
  when some image was skipped.
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
from axial_deeplab_tf.serving import size_limit
from axial_deeplab_tf.tasks import checkpoint_restore
from axial_deeplab_tf.train import actions
from axial_deeplab_tf.train import experiment
from axial_deeplab_tf.train import export as experiment_export

# Errors a main reports as one message with exit status 1.
USER_ERRORS = (experiment.ConfigError, checkpoint_restore.CheckpointError,
               encoding_lib.DatasetError, actions.TrainingStopped)

# Exit status of trainer/predict.py when it finished but skipped images
# (0: every image predicted; 1: an error stopped it before predicting).
EXIT_SKIPPED = 3

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
                            'repeatable, applied in order. Export and '
                            'predict with --checkpoint_path: default the '
                            'params.yaml training wrote beside the '
                            'checkpoint.')
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


def checkpoint_params_from_flags(values: flags.FlagValues
                                 ) -> cfg.ExperimentConfig:
  """`params_from_flags` for export and predict from --checkpoint_path.

  Without --config_file, the `params.yaml` training wrote beside the
  checkpoint (`experiment_export.run_config_file`) is applied as the
  config file, so the trained model's settings (widths, classes,
  post-processing) are used rather than the registered experiment's.
  --params_override still applies last. Prints the config used.
  """
  config_files = list(values.config_file or ())
  run_config = None
  if not config_files and values.checkpoint_path:
    run_config = experiment_export.run_config_file(values.checkpoint_path)
    config_files = [run_config] if run_config else []
  if run_config:
    source = (f'{run_config} (the checkpoint\'s run; --config_file '
              f'replaces it)')
  elif config_files:
    source = ', '.join(config_files)
  else:
    source = ('the registered experiment\'s defaults (no params.yaml '
              'beside --checkpoint_path)')
  override = ' + --params_override' if values.params_override else ''
  print(f'config: --experiment={values.experiment} with {source}{override}',
        flush=True)
  return experiment.load_experiment(
      values.experiment, config_files, values.params_override,
      getattr(values, 'tpu', None))


def _restored_module(values: flags.FlagValues, params, **options):
  """The export module of `params` restored from --checkpoint_path; prints
  the checkpoint read and its training step."""
  module = experiment_export.build_export_module(
      params, values.checkpoint_path, **options)
  print(f'restored checkpoint {_describe(module.restored_checkpoint)}',
        flush=True)
  return module


def _describe(checkpoint: dict) -> str:
  """'<prefix> (step N)' of a `restored_checkpoint` dict."""
  step = 'unknown' if checkpoint.get('step') is None else checkpoint['step']
  return f'{checkpoint["path"]} (step {step})'


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
  params = checkpoint_params_from_flags(values)
  require(values, 'checkpoint_path', *required)
  return params, _restored_module(values, params, **options)


def predictor_from_flags(values: flags.FlagValues):
  """A predictor of panoptic exports: from --saved_model_dir, or from
  --experiment with --checkpoint_path."""
  if bool(values.saved_model_dir) == bool(values.experiment):
    raise experiment.ConfigError(
        'give exactly one of --saved_model_dir or --experiment (with '
        '--checkpoint_path).')
  if values.saved_model_dir:
    try:
      predictor = predictor_lib.SavedModelPredictor(values.saved_model_dir)
    except ValueError as e:  # its message starts with 'saved_model_dir:'
      raise experiment.ConfigError(f'--{e}') from None
    restored = predictor.metadata.get('checkpoint')
    source = f' of checkpoint {_describe(restored)}' if restored else ''
    print(f'SavedModel {predictor.path}{source}', flush=True)
    return predictor
  params = checkpoint_params_from_flags(values)
  if not experiment_export.is_panoptic(params):
    raise experiment.ConfigError(
        f'--experiment: {values.experiment} is not a panoptic experiment.')
  require(values, 'checkpoint_path')
  return predictor_lib.ModulePredictor(_restored_module(
      values, params, output_instance_masks=False))


def predict_from_flags(values: flags.FlagValues) -> int:
  """Predicts every image of --inputs into --output_dir (see
  `predictor.predict_files`), with the palette, classes and
  --max_image_size flags.

  Returns:
    0 when every image was predicted, `EXIT_SKIPPED` when some were
    skipped (each listed with its reason on stderr and in panoptic.json).
  """
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
  try:
    size_limit.limited_size(1, 1, values.max_image_size)
  except ValueError as e:  # its message starts with 'max_image_size:'
    raise experiment.ConfigError(f'--{e}') from None
  result = predictor_lib.predict_files(
      predictor, paths, values.output_dir, palette, category_map, categories,
      alpha=values.alpha, max_image_size=values.max_image_size,
      show_progress=values.progress,
      log=lambda message: print(message, file=sys.stderr, flush=True))
  print(f'predicted {len(result["annotations"])} images, skipped '
        f'{len(result["skipped"])}; panoptic PNGs and panoptic.json in '
        f'{values.output_dir}, pictures in {values.output_dir}/vis')
  return EXIT_SKIPPED if result['skipped'] else 0


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
