"""content-classifier: a Kafka stream processor that labels content with a scikit-learn model."""

__version__ = "0.1.0"
