"""Atomic sharded TFRecord writing and the dataset's classes.json.

classes.json is the dataset's metadata: its class list and, for panoptic
datasets, the `data.encoding.PanopticEncoding` of its labels (under
"encoding"), which the panoptic task checks against its config.

A shard is written to `<final>.tmp-<pid>` and renamed to its final name
only once it is complete, so an interrupted conversion (crash, Ctrl-C)
leaves no truncated file under a final shard name. Final names:
`<output_dir>/<split>-SSSSS-of-NNNNN.tfrecord`.
"""

import json
import os
from concurrent import futures
from typing import Callable, List, Optional, Sequence

import tensorflow as tf
import tqdm

from axial_deeplab_tf.data import encoding as encoding_lib
from axial_deeplab_tf.data import schema


def check_num_shards(num_shards: int) -> None:
  """Raises `DatasetError` unless num_shards is a positive int."""
  if isinstance(num_shards, bool) or not isinstance(num_shards, int) or (
      num_shards < 1):
    raise encoding_lib.DatasetError(
        f'num_shards={num_shards!r}: expected a positive number of shards '
        '(--num_shards=1 or more).')


def shard_count(num_shards: int, num_items: int) -> int:
  """The shards written for num_items: num_shards, capped to the items (a
  shard holds at least one example; no items still give one empty shard)."""
  return max(1, min(num_shards, num_items))


def shard_path(output_dir: str, split: str, index: int, num_shards: int
               ) -> str:
  return os.path.join(output_dir,
                      f'{split}-{index:05d}-of-{num_shards:05d}.tfrecord')


def write_atomically(path: str, write_fn: Callable[[str], None]) -> None:
  """Calls write_fn(tmp_path), then renames tmp_path to path.

  On any exception (KeyboardInterrupt included) the temporary file is
  removed and the exception re-raised; `path` is never partially written.
  """
  tmp = f'{path}.tmp-{os.getpid()}'
  try:
    write_fn(tmp)
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.remove(tmp)
    raise


def write_shards(items: Sequence,
                 to_serialized: Callable[[object], bytes],
                 output_dir: str,
                 split: str,
                 num_shards: int,
                 num_workers: int = 4,
                 show_progress: bool = True,
                 desc: Optional[str] = None) -> List[str]:
  """Writes items into num_shards TFRecord shards, in parallel threads.

  Item i goes to shard i % num_shards, in order. to_serialized(item) returns
  the serialized tf.Example bytes (it may read files; it runs in the
  workers). Threads suffice: file reads, PNG/zlib work and TFRecord writes
  release the GIL.

  num_shards must be positive; with fewer items than num_shards,
  `shard_count` shards are written (one item each).

  Once all shards are written, shards of the same split left by an earlier
  run with another shard count are deleted.

  Returns:
    The final shard paths.
  """
  check_num_shards(num_shards)
  tf.io.gfile.makedirs(output_dir)
  num_shards = shard_count(num_shards, len(items))
  paths = [shard_path(output_dir, split, i, num_shards)
           for i in range(num_shards)]
  progress = tqdm.tqdm(total=len(items), desc=desc or f'writing {split}',
                       disable=not show_progress, unit='ex')

  def write_one(shard: int) -> None:
    def write(tmp: str) -> None:
      with tf.io.TFRecordWriter(tmp) as writer:
        for item in items[shard::num_shards]:
          writer.write(to_serialized(item))
          progress.update(1)
    write_atomically(paths[shard], write)

  with futures.ThreadPoolExecutor(max(1, num_workers)) as pool:
    for future in [pool.submit(write_one, s) for s in range(num_shards)]:
      future.result()
  progress.close()
  # Shards of an earlier run with another shard count would match the same
  # file pattern and mix two datasets: remove them.
  pattern = os.path.join(output_dir, f'{split}-?????-of-?????.tfrecord')
  for stale in set(tf.io.gfile.glob(pattern)) - set(paths):
    tf.io.gfile.remove(stale)
  return paths


def classes_payload(classes: Sequence[dict],
                    encoding: Optional[encoding_lib.PanopticEncoding] = None,
                    extra: Optional[dict] = None) -> dict:
  """The content of classes.json (see `write_classes`)."""
  payload = dict(extra or {})
  payload['classes'] = list(classes)
  if encoding is not None:
    payload[encoding_lib.ENCODING_KEY] = encoding.to_metadata()
  return payload


def check_same_classes(output_dir: str, classes: Sequence[dict],
                       encoding: Optional[encoding_lib.PanopticEncoding] = None
                       ) -> None:
  """Raises `DatasetError` when output_dir already has a classes.json (an
  earlier run, e.g. of another split) with other classes or encoding.

  Each split of a dataset is converted by its own run into one output_dir;
  they share one classes.json, so their classes must agree.
  """
  path = os.path.join(output_dir, schema.CLASSES_FILE)
  if not os.path.exists(path):
    return
  try:
    with open(path) as f:
      existing = json.load(f)
  except (OSError, ValueError):
    existing = {}
  new = json.loads(json.dumps(classes_payload(classes, encoding)))
  if not isinstance(existing, dict):
    existing = {}
  difference = _difference(existing.get('classes') or [], new['classes'],
                           existing.get(encoding_lib.ENCODING_KEY),
                           new.get(encoding_lib.ENCODING_KEY))
  if difference:
    raise encoding_lib.DatasetError(
        f'{path}: left by an earlier conversion (e.g. of another split) '
        f'with other classes: {difference}. Every split in one output '
        'folder must have the same classes: give another --output_dir, or '
        'delete that classes.json and its shards to replace the dataset.')


def _difference(old_classes, new_classes, old_encoding, new_encoding) -> str:
  """'' when equal, else the first difference in words (old, then new)."""
  if len(old_classes) != len(new_classes):
    return f'{len(old_classes)} classes there, {len(new_classes)} here'
  for old, new in zip(old_classes, new_classes):
    if old != new:
      return f'class {new.get("id")} is {old} there, {new} here'
  if old_encoding != new_encoding:
    return f'encoding {old_encoding} there, {new_encoding} here'
  return ''


def write_classes(output_dir: str, classes: Sequence[dict],
                  encoding: Optional[encoding_lib.PanopticEncoding] = None,
                  extra: Optional[dict] = None) -> str:
  """Writes classes.json: {"classes": [{"id", "name", "isthing", ...}],
  "encoding": {num_classes, thing_class_ids, label_divisor, void_label}}.

  Class ids are the contiguous ids stored in the examples; "encoding" is
  written for panoptic datasets (`encoding` given).
  """
  tf.io.gfile.makedirs(output_dir)
  path = os.path.join(output_dir, schema.CLASSES_FILE)
  payload = classes_payload(classes, encoding, extra)

  def write(tmp: str) -> None:
    with open(tmp, 'w') as f:
      json.dump(payload, f, indent=1)
  write_atomically(path, write)
  return path
