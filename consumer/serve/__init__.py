"""`content-classifier serve`: the model over HTTP, for pre-send checks and for analysts.

The same model code, policies and hot reload as the worker, behind a Starlette app served by
uvicorn: `POST /v1/classify` answers verdicts in the verdict schema, concurrent requests are
batched into one model call (`batcher`), API keys are checked in constant time (`keys`),
each key has a rate limit (`limits`), and `/` is a page for analysts.
"""
