"""Model Garden tasks; importing registers them with `task_factory`."""

from axial_deeplab_tf.tasks import classification
from axial_deeplab_tf.tasks import panoptic
