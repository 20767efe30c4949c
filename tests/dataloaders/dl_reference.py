"""Independent numpy reference of the Panoptic-DeepLab targets (Panoptic-DeepLab paper)."""

import numpy as np


def numpy_targets(seg, class_ids, is_crowd, is_thing, ignore_label=255,
                  sigma=8.0, small_area=4096, small_weight=3.0,
                  label_divisor=256, ignore_crowd_in_semantic=False):
  """Reference targets, one segment at a time, straight from the Panoptic-DeepLab paper.

  seg: int [H, W], 0 void, k -> segment k - 1. Returns a dict of arrays.
  """
  h, w = seg.shape
  yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
  out = {
      'semantic': np.full((h, w), ignore_label, np.int64),
      'semantic_weights': np.zeros((h, w)),
      'center_heatmap': np.zeros((h, w)),
      'center_offsets': np.zeros((h, w, 2)),
      'center_weights': np.zeros((h, w)),
      'offset_weights': np.zeros((h, w)),
      'panoptic': np.full((h, w), -1, np.int64),
  }
  number = 0
  for k in range(1, len(class_ids) + 1):
    m = seg == k
    if not m.any():
      continue
    c, crowd, thing = class_ids[k - 1], is_crowd[k - 1], is_thing[k - 1]
    out['panoptic'][m] = c * label_divisor
    if not (crowd and ignore_crowd_in_semantic):
      out['semantic'][m] = c
      out['semantic_weights'][m] = 1.0
    if not crowd:
      out['center_weights'][m] = 1.0
    if thing and not crowd:
      number += 1
      out['panoptic'][m] += number
      ys, xs = np.nonzero(m)
      cy, cx = ys.mean(), xs.mean()
      out['center_offsets'][m, 0] = cy - ys
      out['center_offsets'][m, 1] = cx - xs
      out['offset_weights'][m] = 1.0
      if m.sum() < small_area:
        out['semantic_weights'][m] = small_weight
      py, px = np.round(cy), np.round(cx)
      g = np.exp(-((yy - py)**2 + (xx - px)**2) / (2 * sigma**2))
      out['center_heatmap'] = np.maximum(out['center_heatmap'], g)
  out['center_heatmap'] = out['center_heatmap'][..., None]
  return out


def assert_targets_equal(got, want, keys=None):
  for key in keys or want:
    np.testing.assert_allclose(
        np.asarray(got[key], np.float64), np.asarray(want[key], np.float64),
        atol=1e-4, rtol=1e-5, err_msg=key)
