"""Host-side metric time per image (prints a table, asserts nothing).

Synthetic Cityscapes-like maps (19 classes, 8 things, label_divisor 1000):
a ground truth of blocks with `--instances` thing instances, and a
prediction that is the ground truth shifted by a few pixels with some
blocks relabeled. Times `update_state` of PanopticQuality, MeanIoU and
MaskAP (instance-id map input) per image, and MaskAP.result() for all
images, on one core of this machine.

  python benchmarks/evaluation_benchmark.py [--height 1024] [--width 2048]
"""

import argparse
import os
import platform
import time

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import numpy as np  # pylint: disable=g-import-not-at-top

from axial_deeplab_tf import evaluation  # pylint: disable=g-import-not-at-top
from axial_deeplab_tf.data.encoding import PanopticEncoding  # pylint: disable=g-import-not-at-top

NUM_CLASSES = 19
THINGS = list(range(11, 19))
LD = 1000


def synthetic(height, width, instances, seed):
  """GT / prediction panoptic maps [1, H, W] and instance outputs."""
  rng = np.random.default_rng(seed)
  block = 64
  gh, gw = -(-height // block), -(-width // block)
  stuff = rng.integers(0, 11, (gh, gw))
  gt = np.kron(stuff * LD, np.ones((block, block), np.int64))[:height, :width]
  for i in range(instances):
    c = rng.choice(THINGS)
    y, x = rng.integers(0, height - 96), rng.integers(0, width - 96)
    h, w = rng.integers(16, 96, 2)
    gt[y:y + h, x:x + w] = c * LD + i + 1
  pred = np.roll(gt, (3, 5), axis=(0, 1))
  inst = np.where(pred % LD > 0, pred % LD, 0)
  classes = np.full(instances, -1)
  for seg in np.unique(pred[pred % LD > 0]):
    classes[seg % LD - 1] = seg // LD
  scores = rng.random(instances)
  return (gt[None].astype(np.int32), pred[None].astype(np.int32),
          inst[None].astype(np.int32), classes[None], scores[None])


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument('--height', type=int, default=1024)
  parser.add_argument('--width', type=int, default=2048)
  parser.add_argument('--instances', type=int, default=40)
  parser.add_argument('--images', type=int, default=5)
  args = parser.parse_args()
  data = [synthetic(args.height, args.width, args.instances, s)
          for s in range(args.images)]
  encoding = PanopticEncoding(NUM_CLASSES, tuple(THINGS), LD)
  pq = evaluation.PanopticQuality(encoding)
  miou = evaluation.MeanIoU(NUM_CLASSES)
  ap = evaluation.MaskAP(encoding)
  times = {'PanopticQuality.update_state': 0.0, 'MeanIoU.update_state': 0.0,
           'MaskAP.update_state': 0.0}
  for gt, pred, inst, classes, scores in data:
    t = time.perf_counter()
    pq.update_state(gt, pred)
    times['PanopticQuality.update_state'] += time.perf_counter() - t
    t = time.perf_counter()
    miou.update_state(gt // LD, pred // LD)
    times['MeanIoU.update_state'] += time.perf_counter() - t
    t = time.perf_counter()
    ap.update_state(gt, inst, classes, scores)
    times['MaskAP.update_state'] += time.perf_counter() - t
  t = time.perf_counter()
  ap_result = ap.result()
  ap_time = time.perf_counter() - t
  print(f'{platform.processor() or platform.machine()}, '
        f'{args.height}x{args.width}, {args.instances} instances, '
        f'{args.images} images')
  print('| step | ms / image |')
  print('|---|---|')
  for name, total in times.items():
    print(f'| {name} | {1000 * total / args.images:.0f} |')
  print(f'| MaskAP.result (COCOeval) | {1000 * ap_time / args.images:.0f} |')
  print(f"PQ {pq.result()['All_pq']:.3f}  mIoU "
        f"{miou.result()['mean_iou']:.3f}  AP {ap_result['AP']:.3f}")


if __name__ == '__main__':
  main()
