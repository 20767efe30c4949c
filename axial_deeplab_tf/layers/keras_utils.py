"""Small helpers for tf_keras initializers and regularizers in configs."""

import tf_keras


def fresh_initializer(initializer):
  """A new initializer instance from a name, config or instance.

  An unseeded tf_keras initializer instance returns the same values every
  time it is called, so each weight needs its own instance.
  """
  initializer = tf_keras.initializers.get(initializer)
  return initializer.__class__.from_config(initializer.get_config())


def serialize_initializer(initializer):
  return tf_keras.initializers.serialize(
      tf_keras.initializers.get(initializer))


def serialize_regularizer(regularizer):
  regularizer = tf_keras.regularizers.get(regularizer)
  return tf_keras.regularizers.serialize(regularizer) if regularizer else None
