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

import dataclasses
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
from axial_deeplab_tf.tasks import train_utils


def data_config(params: ccfg.ClassificationDataConfig
                ) -> dataloaders.ClassificationDataConfig:
  """The dataloader config for a Model Garden data config."""
  fields = {f.name for f in
            dataclasses.fields(dataloaders.ClassificationDataConfig)}
  values = {k: v for k, v in params.as_dict().items() if k in fields}
  for key in ('input_path', 'tfds_name', 'tfds_data_dir'):
    if values.get(key) in ('', None, []):
      values[key] = None
  if not values.get('tfds_split'):
    values.pop('tfds_split', None)
  if values.get('cycle_length') is None:
    values.pop('cycle_length', None)
  values['deterministic'] = bool(values.get('deterministic'))
  for key in ('area_range', 'aspect_ratio_range', 'mean', 'std'):
    values[key] = tuple(values[key])
  return dataloaders.ClassificationDataConfig(**values)


@task_factory.register_task_cls(ccfg.ClassificationTask)
class ClassificationTask(base_task.Task):
  """Axial-ResNet image classification."""

  def build_model(self) -> tf_keras.Model:
    return factory.build_model(self.task_config.model,
                               self.task_config.losses.l2_weight_decay)

  def data_config(self, params):
    return data_config(params)

  def build_inputs(self, params, input_context=None) -> tf.data.Dataset:
    return dataloaders.build_classification_dataset(data_config(params),
                                                    input_context)

  def initialize(self, model):
    path = self.task_config.init_checkpoint
    if not path:
      return
    which = self.task_config.init_checkpoint_modules
    if which not in ('all', 'backbone'):
      raise ValueError(f"init_checkpoint_modules: expected 'all' or "
                       f"'backbone', got {which!r}.")
    modules = (('backbone',) if which == 'backbone'
               else checkpoint_restore.CLASSIFICATION_MODULES)
    checkpoint_restore.restore_modules(model, path, modules)

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
    return {k: float(v) for k, v in aggregated_logs.result().items()}
