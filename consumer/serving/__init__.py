"""What every process that answers with the model shares, whatever its transport: the model's
hot reload (`reload`), the policies per source (`policies`), the score monitor (`scores`), the
model's metrics (`metrics`), the verdict's body (`verdicts`) and the tracer provider
(`tracing`). The Kafka worker (`consumer.stream`) and the HTTP API (`consumer.serve`) both sit
on it; it imports neither.
"""
