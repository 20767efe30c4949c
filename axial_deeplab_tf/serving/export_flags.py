"""absl flags shared by trainer/export_saved_model.py, export_tflite.py and
export_onnx.py: which experiment, which checkpoint, where to write."""

from absl import flags

from axial_deeplab_tf.serving import experiment_export


def define_experiment_flags():
  """--experiment, --config_file, --params_override, --checkpoint_path."""
  flags.DEFINE_string('experiment', None,
                      'Registered experiment name (see '
                      'axial_deeplab_tf.configs).')
  flags.DEFINE_multi_string('config_file', None,
                            'YAML files overriding the experiment config, '
                            'in order.')
  flags.DEFINE_string('params_override', '',
                      'Config overrides as a YAML/JSON string.')
  flags.DEFINE_string('checkpoint_path', None,
                      'Checkpoint prefix or directory (latest checkpoint).')


def module_from_flags(**kwargs):
  """(params, export module) built from the experiment flags."""
  values = flags.FLAGS
  if not values.experiment:
    raise flags.ValidationError('--experiment is required.')
  if not values.checkpoint_path:
    raise flags.ValidationError('--checkpoint_path is required.')
  params = experiment_export.load_params(
      values.experiment, values.config_file, values.params_override)
  module = experiment_export.build_export_module(
      params, values.checkpoint_path, **kwargs)
  return params, module
