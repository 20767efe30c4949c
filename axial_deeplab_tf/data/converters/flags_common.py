"""absl flags shared by the trainer/convert_*.py entry points."""

import sys

from absl import flags

from axial_deeplab_tf.data.converters import driver


def define_common_flags():
  """--output_dir, --split, --num_shards, --num_workers, --skip_invalid."""
  flags.DEFINE_string('output_dir', None, 'Output folder for the shards.')
  flags.DEFINE_string('split', 'train', 'Split name: the shard prefix.')
  flags.DEFINE_integer('num_shards', 8, 'Number of output shards.')
  flags.DEFINE_integer('num_workers', 4,
                       'Threads for validation and writing.')
  flags.DEFINE_bool('skip_invalid', False,
                    'Skip invalid examples and list them, instead of '
                    'stopping before anything is written.')
  flags.DEFINE_bool('progress', True, 'Show progress bars.')


def common_kwargs() -> dict:
  """The common flags as keyword arguments of the convert_* functions."""
  f = flags.FLAGS
  return {'output_dir': f.output_dir, 'split': f.split,
          'num_shards': f.num_shards, 'num_workers': f.num_workers,
          'skip_invalid': f.skip_invalid, 'show_progress': f.progress}


def run_converter(convert_fn, *args, **kwargs) -> int:
  """Calls `convert_fn(*args, **kwargs, **common_kwargs())`.

  Prints the report's summary (with the config values of a panoptic
  dataset's encoding) and returns exit status 0, or prints the
  validation error (which names the file and the problem) to stderr and
  returns 1.
  """
  try:
    report = convert_fn(*args, **kwargs, **common_kwargs())
  except (driver.InvalidDatasetError, ValueError) as e:
    print(e, file=sys.stderr)
    return 1
  print(report.summary())
  return 0
