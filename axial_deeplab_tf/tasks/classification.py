"""The Model Garden ImageNet classification task (Axial-ResNet pretraining).

The model comes from `modeling.factory.build_model` (Model Garden's
backbone factory + `modeling.ImageClassifier`). Softmax cross-entropy with
label smoothing, L2 weight decay on every kernel (`losses.l2_weight_decay`,
as a kernel regularizer), top-1 / top-5 accuracy: in-graph Keras metrics
while training, host-side `evaluation.TopKAccuracy` (exact, merged over
replicas and steps) in evaluation. Batches: {'image' [B, S, S, 3],
'label' int32 [B]}.

Not Model Garden's `ImageClassificationTask`: it builds Model Garden's
`ClassificationModel`, whose checkpoint holds the backbone at
`model/layer_with_weights-0/...` instead of `model/backbone/...` (the path
the panoptic task initialises from), restores `backbone` from a top-level
`backbone/...` checkpoint, reports streaming `accuracy` and a single
`top_{k}_accuracy` instead of exact top-1 and top-5, and has no
non-finite-loss step metric; docs/training.md lists what each Model
Garden classification piece lacks.
"""

from typing import Optional

import tensorflow as tf
import tf_keras

from official.core import base_task
from official.core import task_factory

from axial_deeplab_tf import dataloaders
from axial_deeplab_tf import evaluation
from axial_deeplab_tf.configs import classification as ccfg
from axial_deeplab_tf.modeling import factory
from axial_deeplab_tf.tasks import checkpoint_restore
from axial_deeplab_tf.tasks import cross_worker
from axial_deeplab_tf.tasks import train_utils


@task_factory.register_task_cls(ccfg.ClassificationTask)
class ClassificationTask(base_task.Task):
  """Axial-ResNet image classification."""

  def build_model(self) -> tf_keras.Model:
    return factory.build_model(self.task_config.model,
                               self.task_config.losses.l2_weight_decay)

  def build_inputs(self, params: ccfg.ClassificationDataConfig,
                   input_context: Optional[tf.distribute.InputContext] = None
                   ) -> tf.data.Dataset:
    """Batches {'image', 'label'}, per replica under a strategy."""
    return dataloaders.build_classification_dataset(params, input_context)

  def initialize(self, model: tf_keras.Model):
    """Partial restore from `init_checkpoint` (only without a checkpoint in
    model_dir): backbone and head where they fit, or the backbone only."""
    checkpoint_restore.init_from_checkpoint(
        model, self.task_config, checkpoint_restore.CLASSIFICATION_MODULES)

  def build_losses(self, labels, model_outputs, aux_losses=None):
    num_classes = self.task_config.model.num_classes
    one_hot = tf.one_hot(tf.cast(labels, tf.int32), num_classes)
    loss = tf.reduce_mean(tf_keras.losses.categorical_crossentropy(
        one_hot, tf.cast(model_outputs, tf.float32), from_logits=True,
        label_smoothing=self.task_config.losses.label_smoothing))
    if aux_losses:
      loss += tf.add_n([tf.cast(a, tf.float32) for a in aux_losses])
    return loss

  def build_metrics(self, training=True):
    metrics = [tf_keras.metrics.SparseTopKCategoricalAccuracy(
        k=k, name=f'top_{k}_accuracy') for k in self.task_config.top_k]
    if training:
      metrics.append(train_utils.NonFiniteStep())
    return metrics

  def train_step(self, inputs, model, optimizer, metrics=None):
    images, labels = inputs['image'], inputs['label']

    def loss_fn():
      logits = model(images, training=True)
      return self.build_losses(labels, logits, aux_losses=model.losses), logits

    loss, logits, step = train_utils.gradient_step(loss_fn, model, optimizer)
    for metric in metrics or []:
      if isinstance(metric, train_utils.NonFiniteStep):
        metric.update_state(loss, step)
      else:
        metric.update_state(labels, logits)
    return {self.loss: loss}

  def validation_step(self, inputs, model, metrics=None):
    images, labels = inputs['image'], inputs['label']
    logits = tf.cast(model(images, training=False), tf.float32)
    loss = self.build_losses(labels, logits)
    del metrics  # exact top-k is computed on the host
    return {self.loss: loss, 'labels': labels, 'logits': logits}

  def build_metrics_host(self):
    return evaluation.TopKAccuracy(ks=tuple(self.task_config.top_k))

  def aggregate_logs(self, state=None, step_outputs=None):
    if state is None:
      state = self.build_metrics_host()
    if step_outputs is not None:
      labels = step_outputs['labels']
      logits = step_outputs['logits']
      if isinstance(labels, (tuple, list)):
        labels = tf.concat(list(labels), 0)
        logits = tf.concat(list(logits), 0)
      state.update_state(labels, logits)
    return state

  def reduce_aggregated_logs(self, aggregated_logs,
                             global_step: Optional[tf.Tensor] = None):
    del global_step
    return cross_worker.results(aggregated_logs)
