"""Checks shared by the layer tests."""

import numpy as np
import tf_keras


def assert_serialization_round_trip(layer, x):
  """`layer` survives serialize -> deserialize: same class, same config,
  and with its weights copied the clone computes the same inference output
  on `x`."""
  y = layer(x, training=False)
  clone = tf_keras.utils.deserialize_keras_object(
      tf_keras.utils.serialize_keras_object(layer))
  assert type(clone) is type(layer)
  clone(x)
  clone.set_weights(layer.get_weights())
  assert clone.get_config() == layer.get_config()
  np.testing.assert_allclose(clone(x, training=False).numpy(), y.numpy(),
                             atol=1e-6)
