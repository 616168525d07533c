"""Verdict quality in production: the score distribution against the model's training
baseline (drift), and the pieces the stream uses to compare models and learn from
moderators. Pure Python and numpy: no Kafka client, so the training side can build what the
stream reads (a model's score baseline) without depending on the stream."""
