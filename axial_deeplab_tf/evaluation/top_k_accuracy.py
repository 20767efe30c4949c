"""Top-k classification accuracy (host-side counts, mergeable).

An example counts as correct at k when fewer than k classes score strictly
higher than the true class. Classes tied with the true class therefore do
not push it out of the top k (the rule of `tf.math.in_top_k`).
"""

from typing import Any, Dict, Optional, Sequence

import numpy as np

from axial_deeplab_tf.evaluation import array_utils


class TopKAccuracy:
  """Accumulates weighted correct counts for several k.

  `update_state(labels, logits, sample_weight=None)`:
    labels: int [batch] class ids, or float [batch, num_classes] one-hot /
      smoothed labels (the argmax is the class).
    logits: float [batch, num_classes] scores (logits or probabilities).
    sample_weight: optional float [batch] (e.g. 0 for padded examples).
  `result()`: Python floats 'top_{k}_accuracy' for each k (0.0 before any
  example). State: {'correct': float64 [len(ks)], 'total': float64 []}.
  """

  def __init__(self, ks: Sequence[int] = (1, 5)):
    ks = tuple(int(k) for k in ks)
    if not ks or any(k < 1 for k in ks):
      raise ValueError(f'ks: expected positive integers, got {ks}.')
    self.ks = ks
    self.reset_state()

  def reset_state(self) -> None:
    """Zeroes the counts."""
    self._correct = np.zeros(len(self.ks), np.float64)
    self._total = np.float64(0.0)

  def update_state(self, labels: Any, logits: Any,
                   sample_weight: Optional[Any] = None) -> None:
    """Adds one batch (shapes in the class docstring)."""
    scores = array_utils.as_numpy(logits, 'logits')
    array_utils.check_rank(scores, 2, 'logits', '[batch, num_classes]')
    labels = array_utils.as_numpy(labels, 'labels')
    batch, num_classes = scores.shape
    if labels.ndim == 2:
      if labels.shape != scores.shape:
        raise ValueError(f'labels and logits: one-hot labels must have the '
                         f'shape of logits, got {labels.shape} and '
                         f'{scores.shape}.')
      labels = np.argmax(labels, axis=-1)
    elif labels.ndim == 1:
      array_utils.check_integer(labels, 'labels')
    else:
      raise ValueError(f'labels: expected [batch] ids or [batch, num_classes] '
                       f'one-hot, got shape {labels.shape}.')
    if labels.shape[0] != batch:
      raise ValueError(f'labels and logits: batch sizes differ, '
                       f'{labels.shape[0]} vs {batch}.')
    bad = (labels < 0) | (labels >= num_classes)
    if bad.any():
      raise ValueError(f'labels: expected class ids in [0, {num_classes}), '
                       f'got {np.unique(labels[bad])[:10].tolist()}.')
    if sample_weight is None:
      weight = np.ones(batch, np.float64)
    else:
      weight = array_utils.as_numpy(sample_weight, 'sample_weight').astype(
          np.float64).reshape(-1)
      if weight.shape != (batch,):
        raise ValueError(f'sample_weight: expected shape ({batch},), got '
                         f'{weight.shape}.')
    scores = scores.astype(np.float64)
    true_score = scores[np.arange(batch), labels]
    higher = (scores > true_score[:, None]).sum(axis=1)
    for i, k in enumerate(self.ks):
      self._correct[i] += float(np.sum(weight * (higher < k)))
    self._total += weight.sum()

  def get_state(self) -> Dict[str, np.ndarray]:
    """{'correct': float64 [len(ks)], 'total': float64 scalar array}."""
    return {'correct': self._correct.copy(), 'total': np.array(self._total)}

  def merge_state(self, state: Dict[str, Any]) -> None:
    """Adds counts from `get_state`."""
    correct = np.asarray(array_utils.as_numpy(state['correct'], 'correct'),
                         np.float64)
    if correct.shape != self._correct.shape:
      raise ValueError(f"state['correct']: expected shape "
                       f'{self._correct.shape}, got {correct.shape}.')
    self._correct += correct
    self._total += float(array_utils.as_numpy(state['total'], 'total'))

  def merge(self, other: 'TopKAccuracy') -> None:
    """Adds another accumulator's counts (same ks)."""
    if self.ks != other.ks:
      raise ValueError(f'merge: different ks {self.ks} vs {other.ks}.')
    self.merge_state(other.get_state())

  def result(self) -> Dict[str, float]:
    """{'top_{k}_accuracy': float} for each k."""
    total = float(self._total)
    return {f'top_{k}_accuracy': (float(c) / total if total else 0.0)
            for k, c in zip(self.ks, self._correct)}
