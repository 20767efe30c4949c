"""Evaluation metrics: panoptic quality, mean IoU, mask AP, top-k accuracy.

All metrics accumulate sums on the host (numpy) so a Model Garden task can
feed them in `aggregate_logs` from eager or per-replica step outputs and
read Python floats in `reduce_aggregated_logs`.
"""

from axial_deeplab_tf.evaluation.array_utils import as_numpy
from axial_deeplab_tf.evaluation.panoptic_quality import (
    PanopticQuality, panoptic_quality_stats)
from axial_deeplab_tf.evaluation.mean_iou import MeanIoU, confusion_matrix
from axial_deeplab_tf.evaluation.top_k_accuracy import TopKAccuracy
from axial_deeplab_tf.evaluation.mask_ap import MaskAP
from axial_deeplab_tf.evaluation.panoptic_evaluator import PanopticEvaluator
