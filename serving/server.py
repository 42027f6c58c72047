"""`python -m serving.server --model DIR`: a KServe ModelServer with one `AudioModel`.

Endpoints (KServe's): GET /v1/models/NAME (ready?), POST /v1/models/NAME:predict, GET /v2/health/live,
/v2/health/ready, /v2/models/NAME/ready, POST /v2/models/NAME/infer; request and answer shapes in
payload.py. A bad request is a 400 with a message, a body over serving.max_request_mb a 413; the
recording is classified by `Classifier`, the code path of `audioclf predict`.
"""
import argparse
import asyncio
import json
import logging
import os
import sys
import uuid
from typing import List

from serving import payload
from serving.config import ServingConfig

log = logging.getLogger("audioclf.serving")


class _TooLarge(Exception):
    pass


class BodyLimit:
    """ASGI middleware: a request body over `max_bytes` is refused with 413 (by its Content-Length, or
    while it streams in when there is none), before the whole body sits in memory."""

    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            return await self._refuse(send, int(length))
        received = 0

        async def limited():
            nonlocal received
            message = await receive()
            received += len(message.get("body", b"")) if message["type"] == "http.request" else 0
            if received > self.max_bytes:
                raise _TooLarge()
            return message

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            await self._refuse(send, received)

    async def _refuse(self, send, size: int):
        body = json.dumps({"error": f"request body of {size} bytes or more is over the limit of {self.max_bytes} "
                                    f"bytes (serving.max_request_mb); send a shorter recording."}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


def make_model(config: ServingConfig, model_dir: str):
    """The KServe Model (kserve is imported here: it parses sys.argv when first imported)."""
    import kserve  # pylint: disable=import-outside-toplevel
    from kserve.errors import InvalidInput  # pylint: disable=import-outside-toplevel

    from components.common.errors import AudioClfError  # pylint: disable=import-outside-toplevel
    from trainer.classifier import Classifier  # pylint: disable=import-outside-toplevel

    class AudioModel(kserve.Model):
        def __init__(self):
            super().__init__(config.model_name)
            self.classifier = None
            self.load()

        def load(self) -> bool:
            self.classifier = Classifier(model_dir, limits=config.limits())
            log.info("serving: model %s from %s (%d Hz, %.1f s windows, labels %s)", config.model_name,
                     self.classifier.model_dir, self.classifier.sample_rate,
                     self.classifier.clip_samples / self.classifier.sample_rate, self.classifier.label_names)
            self.ready = True
            return self.ready

        def classify(self, recordings: List[payload.Recording]) -> List[dict]:
            decoded = []
            for r in recordings:
                try:
                    if r.data is not None:
                        samples = self.classifier.read_bytes(r.data, r.name)
                    else:
                        samples = self.classifier.resample(r.samples, r.rate)
                    self.classifier.check(samples, r.name)
                except (AudioClfError, payload.BadRequest) as err:
                    raise InvalidInput(str(err)) from err
                decoded.append(samples)
            return self.classifier.classify_recordings(decoded)   # the request's windows share the model's calls

        async def predict(self, body, headers=None, response_headers=None):
            try:
                if isinstance(body, kserve.InferRequest):
                    inputs = {i.name: (i.datatype, list(i.shape), list(i.data)) for i in body.inputs}
                    recordings = payload.v2_recordings(inputs, config.max_recordings)
                else:
                    recordings = payload.v1_recordings(body, config.max_recordings)
            except payload.BadRequest as err:
                raise InvalidInput(str(err)) from err
            # TensorFlow releases the GIL: a thread keeps the event loop answering health checks.
            results = await asyncio.get_running_loop().run_in_executor(None, self.classify, recordings)
            if not isinstance(body, kserve.InferRequest):
                return {"predictions": results}
            outputs = [kserve.InferOutput(name=o["name"], shape=o["shape"], datatype=o["datatype"], data=o["data"])
                       for o in payload.v2_outputs(results, self.classifier.label_names)]
            return kserve.InferResponse(response_id=body.id or str(uuid.uuid4()), model_name=self.name,
                                        infer_outputs=outputs)

    return AudioModel()


def _bad_request_handlers(app) -> None:
    """Malformed JSON and bodies that do not fit the V2 schema are 400s with the reason (FastAPI says 422)."""
    from fastapi.exceptions import RequestValidationError  # pylint: disable=import-outside-toplevel
    from fastapi.responses import JSONResponse  # pylint: disable=import-outside-toplevel

    async def invalid(_request, exc: RequestValidationError):
        first = (exc.errors() or [{}])[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        return JSONResponse(status_code=400, content={"error": f"invalid request: {where}: {first.get('msg', exc)}"})

    app.add_exception_handler(RequestValidationError, invalid)


def parse_args(argv):
    defaults = ServingConfig()
    p = argparse.ArgumentParser(prog="python -m serving.server", description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, help="a pushed model: OUTPUT/serving (newest version) or one version")
    p.add_argument("--model-name", default=defaults.model_name)
    p.add_argument("--port", type=int, default=defaults.http_port)
    p.add_argument("--max-request-mb", type=float, default=defaults.max_request_mb)
    p.add_argument("--max-audio-seconds", type=float, default=defaults.max_audio_seconds)
    p.add_argument("--min-audio-seconds", type=float, default=defaults.min_audio_seconds)
    p.add_argument("--max-recordings", type=int, default=defaults.max_recordings)
    args = p.parse_args(argv)
    config = ServingConfig(model_name=args.model_name, http_port=args.port, max_request_mb=args.max_request_mb,
                           max_audio_seconds=args.max_audio_seconds, min_audio_seconds=args.min_audio_seconds,
                           max_recordings=args.max_recordings)
    return args.model, config


def main(argv=None) -> int:
    from components.common.errors import AudioClfError  # pylint: disable=import-outside-toplevel

    model_dir, config = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        config.validate()
        sys.argv = sys.argv[:1]   # kserve parses sys.argv on import; its settings are passed below instead
        model = make_model(config, model_dir)
    except AudioClfError as err:
        print(f"audioclf serve: {err}", file=sys.stderr)
        return 2
    import kserve  # pylint: disable=import-outside-toplevel
    from kserve import model_server  # pylint: disable=import-outside-toplevel

    model_server.app.add_middleware(BodyLimit, max_bytes=int(config.max_request_mb * 1024 * 1024))
    _bad_request_handlers(model_server.app)
    log.info("serving: http://0.0.0.0:%d/v1/models/%s:predict and /v2/models/%s/infer", config.http_port,
             config.model_name, config.model_name)
    kserve.ModelServer(http_port=config.http_port, enable_grpc=False, workers=1,
                       enable_latency_logging=os.environ.get("AUDIOCLF_LATENCY_LOG") == "1").start([model])
    return 0


if __name__ == "__main__":
    sys.exit(main())
