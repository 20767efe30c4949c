"""Host-side evaluation accumulators merged across the workers of a run.

The tasks evaluate on the host: `aggregate_logs` feeds each evaluation
step's outputs into a Python accumulator (`evaluation.PanopticEvaluator`,
`evaluation.TopKAccuracy`). Orbit hands a worker only its local replicas'
outputs, so under `MultiWorkerMirroredStrategy` each worker's accumulator
holds its own shard of the validation data. `merge_workers(state)`, called
by every worker in `reduce_aggregated_logs`, returns one accumulator of
all workers' examples (the same on every worker), so the metrics equal a
one-worker evaluation of the same data.

The exchange: each worker pickles its accumulator (`.merge(other)` must
add another accumulator's examples); the payloads, as int32 words padded
to the longest, are all-gathered through the strategy (two collectives:
the lengths, then the words); every worker unpickles them in the gathered
order and merges. The payloads come only from the processes of the
same run, which already exchange gradients. With a single worker (one
device, `MirroredStrategy`, a TPU host) the state is returned unchanged:
Orbit already handed it every replica's outputs.
"""

import pickle
from typing import Any, Dict, List

import numpy as np
import tensorflow as tf


def _num_local_replicas(strategy: tf.distribute.Strategy) -> int:
  return len(strategy.extended.worker_devices)


def gather_bytes(payload: bytes,
                 strategy: tf.distribute.Strategy) -> List[bytes]:
  """Every worker's non-empty `payload` (call on every worker, in
  cross-replica context); the same list, in the same order, on each."""
  local = _num_local_replicas(strategy)
  replicas = strategy.num_replicas_in_sync
  words = np.frombuffer(payload + b'\0' * (-len(payload) % 4), np.int32)

  def first_local(context):
    return context.replica_id_in_sync_group % local == 0

  def length(context):
    lengths = np.zeros([replicas], np.int64)
    if first_local(context):
      lengths[context.replica_id_in_sync_group] = len(payload)
    return tf.constant(lengths)
  longest = int(strategy.reduce(
      tf.distribute.ReduceOp.SUM,
      strategy.experimental_distribute_values_from_function(length),
      axis=None).numpy().max())

  def row(context):
    # [length in bytes, payload words..., zero padding]
    padded = np.zeros([1, 1 + -(-longest // 4)], np.int32)
    if first_local(context):
      padded[0, 0] = len(payload)
      padded[0, 1:1 + words.size] = words
    return tf.constant(padded)
  rows = strategy.gather(
      strategy.experimental_distribute_values_from_function(row),
      axis=0).numpy()
  return [r[1:].tobytes()[:r[0]] for r in rows if r[0] > 0]


def merge_workers(state: Any,
                  strategy: tf.distribute.Strategy = None) -> Any:
  """`state` merged with every other worker's (module docstring).

  Args:
    state: a host accumulator with `merge(other)`, picklable.
    strategy: default: the current one (Orbit evaluates in its scope).
  """
  if strategy is None:
    if not tf.distribute.has_strategy():
      return state
    strategy = tf.distribute.get_strategy()
  if strategy.num_replicas_in_sync == _num_local_replicas(strategy):
    return state
  payloads = gather_bytes(pickle.dumps(state), strategy)
  merged = pickle.loads(payloads[0])
  for payload in payloads[1:]:
    merged.merge(pickle.loads(payload))
  return merged


def results(state: Any) -> Dict[str, float]:
  """`result()` of `state` merged over all workers, as Python floats (the
  tasks' `reduce_aggregated_logs`)."""
  return {k: float(v) for k, v in merge_workers(state).result().items()}
