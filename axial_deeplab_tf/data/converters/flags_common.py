"""absl flags shared by the trainer/convert_*.py entry points.

Each main calls `define_common_flags()` (and `define_categories_flag()`
for the panoptic-JSON converters), then
`flags.adopt_module_key_flags(flags_common)` so that its `--help` lists
these flags with its own. Its main returns
`cli.report_errors(lambda: run_converter(...))`: a dataset problem is one
`ERROR:` message and exit status 1.
"""

from absl import flags

from axial_deeplab_tf.data.converters import driver


def define_common_flags():
  """--output_dir, --split, --num_shards, --num_workers, --skip_invalid,
  --progress."""
  flags.DEFINE_string('output_dir', None, 'Output folder for the shards '
                      'and classes.json (one folder for all splits).')
  flags.DEFINE_string('split', 'train',
                      'Split name: the shard prefix. Convert each split by '
                      'its own run into the same --output_dir.')
  flags.DEFINE_integer('num_shards', 8,
                       'Number of output shards (at least 1; capped to the '
                       'number of examples, which the output says).')
  flags.DEFINE_integer('num_workers', 4,
                       'Threads for validation and writing.')
  flags.DEFINE_bool('skip_invalid', False,
                    'Skip invalid examples and list them, instead of '
                    'stopping before anything is written.')
  flags.DEFINE_bool('progress', True, 'Show progress bars.')


def define_categories_flag():
  """--categories_json (converters of a COCO-format panoptic JSON)."""
  flags.DEFINE_string(
      'categories_json', None,
      'JSON with the categories ({"categories": [{id, name, isthing}]} or '
      'that list), used instead of --json_path\'s own; needed when '
      '--json_path has only "annotations" (deeplab2 style).')


def common_kwargs() -> dict:
  """The common flags as keyword arguments of the convert_* functions."""
  f = flags.FLAGS
  return {'output_dir': f.output_dir, 'split': f.split,
          'num_shards': f.num_shards, 'num_workers': f.num_workers,
          'skip_invalid': f.skip_invalid, 'show_progress': f.progress}


def run_converter(convert_fn, *args, **kwargs) -> int:
  """Calls `convert_fn(*args, **kwargs, **common_kwargs())`, prints the
  report's summary (with the config values of a panoptic dataset's
  encoding) and returns exit status 0.

  Raises:
    encoding_lib.DatasetError: as `convert_fn` does (validation problems
      name each file and its problem).
  """
  report: driver.ConversionReport = convert_fn(*args, **kwargs,
                                               **common_kwargs())
  print(report.summary())
  return 0
