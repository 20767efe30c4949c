"""tf.data plumbing of the classification builder (`classification_input`).

The panoptic builder reads through Model Garden's `InputReader` instead.

Reads serialized records from TFRecord files (parallel interleave), or
elements from a TFDS builder, shards them per input pipeline under a
distribution strategy, shuffles, repeats, attaches a per-element random
seed (int64 [2]) for stateless augmentation, maps in parallel, batches per
replica and prefetches, all with AUTOTUNE.
"""

import dataclasses
from typing import Callable, Optional, Sequence, Union

import tensorflow as tf
import tensorflow_datasets as tfds

AUTOTUNE = tf.data.AUTOTUNE


@dataclasses.dataclass
class SourceConfig:
  """Where examples come from and how tf.data reads them.

  Attributes:
    input_path: TFRecord file pattern(s): a string (comma-separated patterns
      allowed) or a list of patterns. Exclusive with tfds_name.
    tfds_name: TFDS builder name, e.g. 'coco/2017_panoptic', 'imagenette'.
    tfds_split: TFDS split, e.g. 'train', 'validation'.
    tfds_data_dir: TFDS data directory (None: the TFDS default).
    is_training: shuffle, repeat and augment.
    global_batch_size: batch size summed over replicas.
    shuffle_buffer_size: elements in the shuffle buffer.
    cycle_length: files read in parallel by interleave.
    deterministic: make element order and augmentation reproducible for a
      given seed (slower; for tests and debugging). Evaluation
      (is_training False) always keeps the files' record order.
    seed: base random seed (None: a fresh one each run).
    repeat: repeat forever (default: is_training).
    drop_remainder: drop the last incomplete batch (default: is_training).
    cache: cache decoded serialized records in memory (small datasets).
  """
  input_path: Union[str, Sequence[str], None] = None
  tfds_name: Optional[str] = None
  tfds_split: str = 'train'
  tfds_data_dir: Optional[str] = None
  is_training: bool = True
  global_batch_size: int = 8
  shuffle_buffer_size: int = 1000
  cycle_length: int = 8
  deterministic: bool = False
  seed: Optional[int] = None
  repeat: Optional[bool] = None
  drop_remainder: Optional[bool] = None
  cache: bool = False


def _ordered(config: SourceConfig) -> bool:
  """Keep element order: when asked, and always in evaluation."""
  return config.deterministic or not config.is_training


def _patterns(input_path) -> list:
  if isinstance(input_path, str):
    return [p.strip() for p in input_path.split(',') if p.strip()]
  return list(input_path)


def per_replica_batch_size(config: SourceConfig,
                           input_context: Optional[tf.distribute.InputContext]
                           ) -> int:
  if input_context is None:
    return config.global_batch_size
  return input_context.get_per_replica_batch_size(config.global_batch_size)


def source_dataset(config: SourceConfig,
                   input_context: Optional[tf.distribute.InputContext] = None
                   ) -> tf.data.Dataset:
  """Elements before decoding: serialized strings, or TFDS feature dicts.

  Sharded by `input_context` (files when there are enough of them, else
  records), shuffled when training, repeated when asked.
  """
  if (config.input_path is None) == (config.tfds_name is None):
    raise ValueError('exactly one of input_path and tfds_name must be set; '
                     f'got input_path={config.input_path!r}, '
                     f'tfds_name={config.tfds_name!r}')
  num_pipelines = input_context.num_input_pipelines if input_context else 1
  pipeline_id = input_context.input_pipeline_id if input_context else 0
  shuffle = config.is_training
  if config.tfds_name is not None:
    read_config = tfds.ReadConfig(
        input_context=input_context, shuffle_seed=config.seed,
        interleave_cycle_length=config.cycle_length)
    ds = tfds.load(config.tfds_name, split=config.tfds_split,
                   data_dir=config.tfds_data_dir, shuffle_files=shuffle,
                   read_config=read_config, decoders=None)
  else:
    files = []
    for pattern in _patterns(config.input_path):
      matched = tf.io.gfile.glob(pattern)
      if not matched:
        raise ValueError(f'input_path pattern {pattern!r} matches no file')
      files.extend(sorted(matched))
    files_ds = tf.data.Dataset.from_tensor_slices(files)
    shard_files = num_pipelines > 1 and len(files) >= num_pipelines
    if shard_files:
      files_ds = files_ds.shard(num_pipelines, pipeline_id)
    if shuffle:
      files_ds = files_ds.shuffle(len(files), seed=config.seed)
    ds = files_ds.interleave(
        tf.data.TFRecordDataset, cycle_length=config.cycle_length,
        num_parallel_calls=AUTOTUNE,
        deterministic=_ordered(config))
    if num_pipelines > 1 and not shard_files:
      ds = ds.shard(num_pipelines, pipeline_id)
  if config.cache:
    ds = ds.cache()
  if shuffle:
    ds = ds.shuffle(config.shuffle_buffer_size, seed=config.seed)
  repeat = config.is_training if config.repeat is None else config.repeat
  if repeat:
    ds = ds.repeat()
  return ds


def finish(ds: tf.data.Dataset,
           config: SourceConfig,
           map_fn: Callable,
           input_context: Optional[tf.distribute.InputContext] = None,
           padded_shapes=None,
           padding_values=None) -> tf.data.Dataset:
  """Maps map_fn(element, seed int64 [2]) in parallel, batches, prefetches.

  With padded_shapes, uses padded_batch (variable-size evaluation images).
  """
  seed = config.seed
  if seed is not None and input_context is not None:
    # Different input pipelines must not share augmentation seeds.
    seed += 1000003 * input_context.input_pipeline_id
  seeds = tf.data.Dataset.random(seed=seed).batch(2)
  ds = tf.data.Dataset.zip((ds, seeds))
  ds = ds.map(map_fn, num_parallel_calls=AUTOTUNE,
              deterministic=_ordered(config))
  batch_size = per_replica_batch_size(config, input_context)
  drop = (config.is_training if config.drop_remainder is None
          else config.drop_remainder)
  if padded_shapes is not None:
    ds = ds.padded_batch(batch_size, padded_shapes=padded_shapes,
                         padding_values=padding_values, drop_remainder=drop)
  else:
    ds = ds.batch(batch_size, drop_remainder=drop,
                  num_parallel_calls=AUTOTUNE,
                  deterministic=_ordered(config))
  options = tf.data.Options()
  options.deterministic = _ordered(config)
  options.experimental_optimization.map_parallelization = True
  ds = ds.with_options(options)
  return ds.prefetch(AUTOTUNE)
