"""The Model Garden panoptic segmentation task of Axial-DeepLab.

`PanopticTask` (registered for `configs.panoptic.PanopticTask`) builds the
Axial-DeepLab model, the panoptic input pipeline (TFRecords or TFDS), the
Panoptic-DeepLab loss, and evaluates PQ / SQ / RQ (All, Things, Stuff),
mIoU and mask AP on the host from per-replica step outputs (merged over
the workers of a multi-worker run: `cross_worker`).

`task.encoding` (the config's `PanopticEncoding`) is the one panoptic id
encoding of the data pipeline, the post-processor and the evaluator;
`build_inputs` first checks it against the dataset's recorded metadata.

Batches (see docs/data.md) are dicts: the model reads `image`, the loss
and metrics read the rest.
"""

from typing import Any, Dict, Optional

import tensorflow as tf
import tf_keras

from official.core import base_task
from official.core import task_factory

from axial_deeplab_tf import dataloaders
from axial_deeplab_tf import evaluation
from axial_deeplab_tf import losses as losses_lib
from axial_deeplab_tf import modeling
from axial_deeplab_tf.configs import panoptic as pcfg
from axial_deeplab_tf.modeling import factory
from axial_deeplab_tf.ops import post_processing_options as options_lib
from axial_deeplab_tf.tasks import checkpoint_restore
from axial_deeplab_tf.tasks import cross_worker
from axial_deeplab_tf.tasks import inference
from axial_deeplab_tf.tasks import train_utils

LOSS_KEYS = ('semantic_loss', 'center_loss', 'offset_loss')
LABEL_KEYS = ('panoptic', 'semantic', 'image_info')
OUTPUT_KEYS = ('panoptic', 'semantic', 'instance', 'instance_classes',
               'instance_scores', 'instance_valid')


@task_factory.register_task_cls(pcfg.PanopticTask)
class PanopticTask(base_task.Task):
  """Axial-DeepLab panoptic segmentation (Panoptic-DeepLab heads)."""

  def __init__(self, params: pcfg.PanopticTask, logging_dir=None,
               name=None):
    super().__init__(params, logging_dir=logging_dir, name=name)
    m = params.model
    self.encoding = m.encoding()
    self.post_processor = modeling.PanopticPostProcessor(
        self.encoding,
        options_lib.PostProcessingOptions.from_config(m.post_processing),
        output_instance_masks=False)
    loss = params.losses
    self.loss_fn = losses_lib.PanopticLoss(
        semantic_weight=loss.semantic_weight,
        center_weight=loss.center_weight, offset_weight=loss.offset_weight,
        top_k_percent=loss.top_k_percent,
        ignore_label=params.train_data.ignore_label)

  # Model and inputs.

  def build_model(self) -> tf_keras.Model:
    return factory.build_model(self.task_config.model,
                               self.task_config.losses.l2_weight_decay)

  def build_inputs(self, params: pcfg.PanopticDataConfig,
                   input_context: Optional[tf.distribute.InputContext] = None
                   ) -> tf.data.Dataset:
    """Batches of the panoptic pipeline, per replica under a strategy.

    Raises:
      ValueError: when the dataset's recorded encoding (classes.json, or
        the TFDS class count) differs from `self.encoding`, naming both
        values and the override to set.
    """
    dataloaders.check_dataset_encoding(params, self.encoding)
    return dataloaders.build_panoptic_dataset(params, self.encoding,
                                              input_context)

  def initialize(self, model: tf_keras.Model):
    """Partial restore from `init_checkpoint` (only without a checkpoint in
    model_dir): all modules whose shapes fit, or the backbone only."""
    checkpoint_restore.init_from_checkpoint(
        model, self.task_config, checkpoint_restore.PANOPTIC_MODULES)

  # Losses and metrics.

  def build_losses(self, labels: Dict[str, tf.Tensor],
                   model_outputs: Dict[str, tf.Tensor],
                   aux_losses=None) -> Dict[str, tf.Tensor]:
    """Loss terms; 'total_loss' includes the regularization `aux_losses`."""
    outputs = {k: tf.cast(v, tf.float32) for k, v in model_outputs.items()}
    terms = self.loss_fn(labels, outputs)
    if aux_losses:
      terms['total_loss'] += tf.add_n([tf.cast(a, tf.float32)
                                       for a in aux_losses])
    return terms

  def build_metrics(self, training: bool = True):
    metrics = [tf_keras.metrics.Mean(k, dtype=tf.float32) for k in LOSS_KEYS]
    if training:
      metrics.append(train_utils.NonFiniteStep())
    return metrics

  def train_step(self, inputs, model, optimizer, metrics=None):
    """One step: forward, loss / num_replicas, (loss-scaled) backward."""
    images = inputs['image']

    def loss_fn():
      outputs = model(images, training=True)
      terms = self.build_losses(inputs, outputs, aux_losses=model.losses)
      return terms['total_loss'], terms

    loss, terms, step = train_utils.gradient_step(loss_fn, model, optimizer)
    self._update_metrics(metrics, terms, step)
    return {self.loss: loss}

  def _update_metrics(self, metrics, terms, step=None):
    for metric in metrics or []:
      if isinstance(metric, train_utils.NonFiniteStep):
        metric.update_state(terms['total_loss'], step)
      elif metric.name in terms:
        metric.update_state(terms[metric.name])

  def inference_step(self, images, model):
    e = self.task_config.evaluation
    return inference.multi_scale_inference(model, images, e.scales, e.flip)

  def validation_step(self, inputs, model, metrics=None):
    """Forward + post-processing; returns the losses and what the metrics
    need (aggregated on the host by `aggregate_logs`)."""
    outputs = self.inference_step(inputs['image'], model)
    terms = self.build_losses(inputs, outputs)
    self._update_metrics(metrics, terms)
    processed = self.post_processor(outputs)
    return {self.loss: terms['total_loss'],
            'labels': {k: inputs[k] for k in LABEL_KEYS},
            'outputs': {k: processed[k] for k in OUTPUT_KEYS}}

  def new_evaluator(self) -> evaluation.PanopticEvaluator:
    e = self.task_config.evaluation
    return evaluation.PanopticEvaluator(
        self.encoding,
        ignore_label=self.task_config.validation_data.ignore_label,
        compute_pq=e.compute_pq, compute_miou=e.compute_miou,
        compute_ap=e.compute_ap, max_detections=e.max_detections,
        report_per_class=e.report_per_class)

  def aggregate_logs(self, state=None, step_outputs=None):
    if state is None:
      state = self.new_evaluator()
    if step_outputs is not None:
      state.update_state(step_outputs['labels'], step_outputs['outputs'])
    return state

  def reduce_aggregated_logs(self, aggregated_logs,
                             global_step: Optional[tf.Tensor] = None
                             ) -> Dict[str, Any]:
    del global_step
    return cross_worker.results(aggregated_logs)
