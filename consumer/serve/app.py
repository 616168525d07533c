"""The HTTP API (Starlette): `POST /v1/classify`, `POST /v1/explain`, probes, metrics, page,
and the OpenAPI document that describes them all (`/openapi.json`).

Every error is JSON, `{"error": {"status": 413, "message": "..."}}`: 400 for a body that is
not the request schema, 401 without a valid key, 404 and 405 for a path or a method the API
does not have, 408 for a body not sent within SERVE_BODY_TIMEOUT_S, 413 for a body, a text or
a count of texts over its limit, 429 over a key's rate and 503 over SERVE_MAX_CONNECTIONS
requests in flight (both with Retry-After), 500 for what went wrong on the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from consumer.config.logs import get_logger
from consumer.model.classifier import Classifier, Prediction
from consumer.model.explain import explain, explainable
from consumer.serve.batcher import Batcher, TextFailed
from consumer.serve.errors import ApiError, error_response, json_response
from consumer.serve.keys import ApiKeys
from consumer.serve.limits import RateLimiter, ServeLimits
from consumer.serve.metrics import ScoreBuffer, ServeMetrics
from consumer.serve.openapi import openapi_document
from consumer.serve.overload import InFlightLimit
from consumer.serving.policies import SourcePolicies
from consumer.serving.verdicts import rfc3339_now, verdict_body

__all__ = ["ApiError", "Asked", "ServeLimits", "build_app"]

log = get_logger("consumer.serve")

#: The status counted for a request whose client left before sending its body (no answer).
CLIENT_GONE = 499


async def read_body(request: Request, limits: ServeLimits) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        if not (declared.isascii() and declared.isdigit()):  # int() reads "٣" and "²" too
            raise ApiError(400, "Content-Length is not a number")
        if int(declared) > limits.max_body_bytes:
            raise ApiError(413, f"the body is over {limits.max_body_bytes} bytes")
    chunks: list[bytes] = []
    size = 0

    async def collect() -> None:
        nonlocal size
        async for chunk in request.stream():
            size += len(chunk)
            if size > limits.max_body_bytes:
                raise ApiError(413, f"the body is over {limits.max_body_bytes} bytes")
            chunks.append(chunk)

    try:
        await asyncio.wait_for(collect(), limits.body_timeout_s)
    except TimeoutError:
        raise ApiError(408, f"the body was not sent within {limits.body_timeout_s:g} s") from None
    except ClientDisconnect:
        # Nobody is left to answer: counted as nginx counts it (499), not as a server error.
        raise ApiError(CLIENT_GONE, "the client closed the connection before its body") from None
    return b"".join(chunks)


@dataclass(frozen=True, slots=True)
class Asked:
    """A classify or explain request: its texts and the optional fields of its verdicts
    (`source` and `metadata` also choose its policy, as a Kafka input's do)."""

    texts: list[str]
    id: str | None = None
    source: str | None = None
    metadata: dict[str, str] | None = None


def parse_request(body: bytes, limits: ServeLimits) -> Asked:
    """The request's texts and optional fields (`id`, `source`, `metadata`), or a 400/413."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, f"the body is not JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise ApiError(400, "the body must be a JSON object with `text` or `texts`")
    if ("text" in payload) == ("texts" in payload):
        raise ApiError(400, "give exactly one of `text` (a string) or `texts` (a list of strings)")
    if "text" in payload:
        texts = [payload["text"]]
        where = "text"
    else:
        texts = payload["texts"]
        where = "texts"
        if not isinstance(texts, list) or not texts:
            raise ApiError(400, "`texts` must be a non-empty list of strings")
        if len(texts) > limits.max_texts:
            raise ApiError(413, f"{len(texts)} texts, more than the limit of {limits.max_texts}")
    for index, text in enumerate(texts):
        at = where if where == "text" else f"texts[{index}]"
        if not isinstance(text, str):
            raise ApiError(400, f"`{at}` must be a string, not {type(text).__name__}")
        if not text.strip():
            raise ApiError(400, f"`{at}` is empty after trimming whitespace")
        if len(text) > limits.max_text_chars:
            raise ApiError(
                413, f"`{at}` has {len(text)} characters, more than {limits.max_text_chars}"
            )
    ident = payload.get("id")
    if ident is not None and (
        where != "text" or not isinstance(ident, str) or not 0 < len(ident) <= 256
    ):
        raise ApiError(400, "`id` goes with `text` and is a string of 1 to 256 characters")
    source = payload.get("source")
    if source is not None and not isinstance(source, str):
        raise ApiError(400, "`source` must be a string")
    metadata = payload.get("metadata")
    if metadata is not None and (
        not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values())
    ):
        raise ApiError(400, "`metadata` must be an object of strings")
    return Asked(texts, ident, source, metadata)


class Api:
    def __init__(
        self,
        batcher: Batcher,
        keys: ApiKeys | None,
        limiter: RateLimiter | None,
        limits: ServeLimits,
        policies: SourcePolicies | None = None,
        metrics: ServeMetrics | None = None,
        scores: ScoreBuffer | None = None,
    ) -> None:
        self.batcher = batcher
        self.keys = keys
        self.limiter = limiter
        self.limits = limits
        self.policies = policies
        self.metrics = metrics
        self.scores = scores
        self.ready = False

    def authenticate(self, request: Request) -> str:
        """The name of the request's key (`Authorization: Bearer <key>` or `X-API-Key`);
        checked before the body is read, so an unknown caller costs no parsing."""
        if self.keys is None:
            return "anonymous"
        header = request.headers.get("authorization", "")
        scheme, _, presented = header.partition(" ")
        if scheme.lower() != "bearer" or not presented:
            presented = request.headers.get("x-api-key", "")
        name = self.keys.identify(presented.strip()) if presented else None
        if name is None:
            raise ApiError(401, "a valid API key is required (Authorization: Bearer <key>)")
        return name

    def charge(self, name: str, texts: int) -> None:
        """Take one token a text from the key's bucket, or refuse with 429."""
        if self.limiter is None:
            return
        wait = self.limiter.take(name, texts)
        if wait > 0:
            raise ApiError(
                429,
                f"rate limit of {self.limiter.rate:g} texts a second exceeded",
                {"Retry-After": str(max(1, round(wait + 0.5)))},
            )

    async def _asked(self, request: Request) -> Asked:
        name = self.authenticate(request)
        asked = parse_request(await read_body(request, self.limits), self.limits)
        self.charge(name, len(asked.texts))
        return asked

    async def _judged(self, request: Request) -> tuple[Asked, Classifier, list[Prediction]]:
        """The request, the classifier that judged it and its predictions, its policy
        applied; a 500 naming the text the model failed on (the rest of its batch is
        answered)."""
        asked = await self._asked(request)
        try:
            classifier, predictions = await self.batcher.classify(asked.texts)
        except TextFailed as failed:
            log.error(
                "the model failed on a text of a request",
                text_index=failed.index,
                exception_class=type(failed.cause).__name__,
                reason=str(failed.cause)[:500],
            )
            at = "text" if len(asked.texts) == 1 else f"texts[{failed.index}]"
            raise ApiError(
                500, f"the model failed on `{at}` ({type(failed.cause).__name__})"
            ) from None
        if self.policies is not None:
            decided = self.policies.apply(classifier, [(asked, p) for p in predictions])
            predictions = [p for _, p in decided]
        if self.scores is not None:
            self.scores.add(classifier, predictions)
        return asked, classifier, predictions

    def count(self, route: str, status: int, started: float) -> None:
        if self.metrics is not None:
            self.metrics.answered(route, status, time.perf_counter() - started)

    def refused(self, path: str) -> None:
        """A request refused as one too many in flight (503): counted under its route."""
        route = _ROUTES.get(path)
        if route is not None:
            self.count(route, 503, time.perf_counter())

    def timed(
        self, route: str, handler: Callable[[Request], Awaitable[Response]]
    ) -> Callable[[Request], Awaitable[Response]]:
        """`handler`, its answers counted and timed under `route` in the metrics (an
        unexpected exception as the 500 `internal_error` makes of it)."""

        async def answer(request: Request) -> Response:
            started = time.perf_counter()
            try:
                response = await handler(request)
            except Exception:
                self.count(route, 500, started)
                raise
            self.count(route, response.status_code, started)
            return response

        return answer

    async def classify(self, request: Request) -> Response:
        try:
            asked, classifier, predictions = await self._judged(request)
        except ApiError as error:
            return error_response(error)
        return json_response({"verdicts": verdicts(classifier, predictions, asked)})

    async def explain(self, request: Request) -> Response:
        """The verdicts and, for a linear model, the words that pushed each score most:
        one call (and one charge against the key's rate) for the analysts' page."""
        try:
            asked, classifier, predictions = await self._judged(request)
        except ApiError as error:
            return error_response(error)
        found = await self.batcher.run(explain_all, classifier.estimator, asked.texts)
        explanations: list[Any] = [None] * len(asked.texts) if found is None else found
        return json_response(
            {
                "verdicts": verdicts(classifier, predictions, asked),
                "explainable": found is not None,
                "explanations": explanations,
            }
        )

    async def healthz(self, request: Request) -> Response:
        return json_response({"status": "ok"})

    async def readyz(self, request: Request) -> Response:
        if not self.ready:
            return json_response({"status": "starting"}, 503)
        return json_response({"status": "ready", "model": self.batcher.classifier.reference})


def explain_all(estimator: Any, texts: list[str]) -> list[list[dict[str, Any]]] | None:
    """Each text's strongest features, or None for a model without per-feature weights."""
    if not explainable(estimator):
        return None
    return [
        [{"feature": w.feature, "weight": w.weight} for w in explain(estimator, text) or ()]
        for text in texts
    ]


def verdicts(classifier: Classifier, predictions: list[Prediction], asked: Asked) -> list[Any]:
    """Verdicts in the verdict schema, without `source` (there is no Kafka record). Their
    id is the request's `id`, else one made up for the request, `:<index>` per text."""
    at = rfc3339_now()
    model = classifier.reference
    if asked.id is not None:
        ids = [asked.id]
    else:
        request_id = f"http:{uuid.uuid4().hex}"
        ids = [f"{request_id}:{index}" for index in range(len(predictions))]
    return [
        verdict_body(ident, p, model, at, asked.source, asked.metadata)
        for ident, p in zip(ids, predictions, strict=True)
    ]


#: The routes counted in the metrics, by path.
_ROUTES = {"/v1/classify": "classify", "/v1/explain": "explain"}


async def internal_error(request: Request, exc: Exception) -> Response:
    log.exception("request failed", path=request.url.path, exception_class=type(exc).__name__)
    return error_response(ApiError(500, "internal error; the server's log has the details"))


async def http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own errors (404 for a path, 405 for a method the API does not have) in
    the API's error body, their headers (`Allow`) kept."""
    if not isinstance(exc, HTTPException):  # registered for HTTPException only
        return await internal_error(request, exc)
    message = f"{exc.detail}: {request.method} {request.url.path}"
    return error_response(ApiError(exc.status_code, message, dict(exc.headers or {})))


def build_app(api: Api, page: bytes, metrics: Any) -> Starlette:
    document = orjson.dumps(
        openapi_document(
            api.limits,
            keyed=api.keys is not None,
            rate_per_s=api.limiter.rate if api.limiter is not None else None,
        )
    )

    async def index(request: Request) -> Response:
        return Response(page, media_type="text/html; charset=utf-8")

    async def openapi(request: Request) -> Response:
        return Response(document, media_type="application/json")

    async def metrics_endpoint(request: Request) -> Response:
        body, content_type = metrics()
        return Response(body, media_type=content_type)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        api.batcher.start()
        api.ready = True
        try:
            yield
        finally:
            api.ready = False
            await api.batcher.stop()

    return Starlette(
        routes=[
            Route("/", index),
            Route("/healthz", api.healthz),
            Route("/readyz", api.readyz),
            Route("/metrics", metrics_endpoint),
            Route("/openapi.json", openapi),
            Route("/v1/classify", api.timed("classify", api.classify), methods=["POST"]),
            Route("/v1/explain", api.timed("explain", api.explain), methods=["POST"]),
        ],
        middleware=[
            Middleware(InFlightLimit, limit=api.limits.max_in_flight, on_refused=api.refused)
        ],
        lifespan=lifespan,
        exception_handlers={HTTPException: http_error, Exception: internal_error},
    )
