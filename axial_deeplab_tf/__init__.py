"""Axial-DeepLab for TensorFlow / tf_keras and Model Garden."""
