"""Model Garden's `InputReader` with a stateless seed per training example.

`read(params, decoder_fn, parse_train, parse_eval, input_context,
batch_fn)` is the read path of the input builders: `params` is a Model
Garden `cfg.DataConfig` (input_path or tfds_name with tfds_split,
is_training, global_batch_size, shuffle_buffer_size, cycle_length,
deterministic, seed, cache, drop_remainder, ...).

- Exactly one of `input_path` and `tfds_name` must be set; the files of
  `input_path`'s patterns are read in sorted order (InputReader keeps the
  glob's order, which the file system decides).
- Evaluation (`is_training` False) always keeps the record order
  (`deterministic` is forced on).
- The reader lists, shards per input pipeline, shuffles and repeats when
  training, decodes with `decoder_fn` and caches with `cache`; then
  training zips each decoded example with a seed int64 [2] drawn from
  `tf.data.Dataset.random(seed)` (seeds of input pipeline i start
  `_PIPELINE_SEED_STRIDE * i` further) and maps `parse_train(example,
  seed)`; evaluation maps `parse_eval(example)`. So `deterministic` runs
  with a fixed `seed` reproduce their batches, and cached data is augmented
  afresh each epoch (InputReader's own parser step takes no seed and runs
  before its cache).
- Batches hold the per-replica batch size of `input_context`;
  `drop_remainder` None means "when training".
"""

from typing import Callable, Optional

import tensorflow as tf

from official.core import config_definitions as cfg
from official.core import input_reader

AUTOTUNE = tf.data.AUTOTUNE
# Seeds of different input pipelines are this far apart.
_PIPELINE_SEED_STRIDE = 1000003

# (dataset, per-replica batch size, drop_remainder, deterministic) -> batches
BatchFn = Callable[[tf.data.Dataset, int, bool, bool], tf.data.Dataset]


def batch(ds: tf.data.Dataset, batch_size: int, drop_remainder: bool,
          deterministic: bool) -> tf.data.Dataset:
  """The default `BatchFn`: a parallel `Dataset.batch`."""
  return ds.batch(batch_size, drop_remainder=drop_remainder,
                  num_parallel_calls=AUTOTUNE, deterministic=deterministic)


def reader_params(params: cfg.DataConfig) -> cfg.DataConfig:
  """`params` as the reader takes them: files sorted, evaluation ordered.

  Raises:
    ValueError: none or both of input_path and tfds_name are set, or a
      pattern of input_path matches no file (the message names the key).
  """
  if bool(params.input_path) == bool(params.tfds_name):
    raise ValueError('exactly one of input_path and tfds_name must be set; '
                     f'got input_path={params.input_path!r}, '
                     f'tfds_name={params.tfds_name!r}')
  if params.input_path:
    try:
      files = sorted(input_reader.match_files(params.input_path))
    except ValueError as e:
      raise ValueError(f'input_path: {e}') from e
    params = params.replace(input_path=files)
  if not params.is_training:
    params = params.replace(deterministic=True)
  return params


def transform_and_batch_fn(params: cfg.DataConfig, parse_train: Callable,
                           parse_eval: Callable, batch_fn: BatchFn = batch
                           ) -> Callable[[tf.data.Dataset, Optional[
                               tf.distribute.InputContext]], tf.data.Dataset]:
  """The `InputReader` step after decoding (and caching): parse, batch.

  Args:
    params: the reader's params (see `reader_params`).
    parse_train: (decoded example, seed int64 [2]) -> parsed example.
    parse_eval: decoded example -> parsed example.
    batch_fn: batches the parsed examples (see `BatchFn`).
  """
  ordered = bool(params.deterministic)
  drop = (params.is_training if params.drop_remainder is None
          else params.drop_remainder)

  def apply(ds: tf.data.Dataset,
            input_context: Optional[tf.distribute.InputContext] = None
            ) -> tf.data.Dataset:
    batch_size = params.global_batch_size
    seed = params.seed
    if input_context is not None:
      batch_size = input_context.get_per_replica_batch_size(batch_size)
      if seed is not None:
        seed += _PIPELINE_SEED_STRIDE * input_context.input_pipeline_id
    if params.is_training:
      seeds = tf.data.Dataset.random(seed=seed).batch(2)
      ds = tf.data.Dataset.zip((ds, seeds)).map(
          parse_train, num_parallel_calls=AUTOTUNE, deterministic=ordered)
    else:
      ds = ds.map(parse_eval, num_parallel_calls=AUTOTUNE,
                  deterministic=ordered)
    return batch_fn(ds, batch_size, drop, ordered)
  return apply


def read(params: cfg.DataConfig, decoder_fn: Callable, parse_train: Callable,
         parse_eval: Callable,
         input_context: Optional[tf.distribute.InputContext] = None,
         batch_fn: BatchFn = batch) -> tf.data.Dataset:
  """Reads, decodes, parses and batches `params`' examples (module doc).

  Args:
    params: a Model Garden data config.
    decoder_fn: source element (serialized tf.Example or TFDS dict) ->
      decoded example.
    parse_train, parse_eval, batch_fn: see `transform_and_batch_fn`.
    input_context: from `strategy.distribute_datasets_from_function`; the
      data are sharded per input pipeline and batched per replica.

  Returns:
    The batched, prefetched tf.data.Dataset.
  """
  params = reader_params(params)
  reader = input_reader.InputReader(
      params, decoder_fn=decoder_fn,
      transform_and_batch_fn=transform_and_batch_fn(
          params, parse_train, parse_eval, batch_fn))
  return reader.read(input_context=input_context)
