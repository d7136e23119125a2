"""An app whose only instrumentation is one third-party OpenAI instrumentation (nothing of ours):
chat and embedding calls through the real `openai` client against a fake OpenAI API on loopback
that answers about one call in ten with HTTP 429, spans exported to the sidecar. One process per
instrumentation (they patch the same client). Run by test_third_party_e2e.py:

    python third_party_app.py WHICH OTLP_ENDPOINT SERVICE CONTROL_DIR

CONTROL_DIR/burst: from then on every other call fails (an error burst); CONTROL_DIR/stop: exit.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from harness import FakeOpenAI, tracer_provider  # noqa: E402

INSTRUMENTATIONS = {
    "openai-v2": "opentelemetry.instrumentation.openai_v2",  # the official one (opentelemetry-instrumentation-openai-v2)
    "openllmetry": "opentelemetry.instrumentation.openai",  # OpenLLMetry (opentelemetry-instrumentation-openai)
    "openinference": "openinference.instrumentation.openai",  # Arize OpenInference
}


def main(which: str, endpoint: str, service: str, control: str) -> None:
    import importlib

    import openai

    tp = tracer_provider(endpoint, {"service.name": service, "service.version": "2026.11.1"})
    inst = importlib.import_module(INSTRUMENTATIONS[which]).OpenAIInstrumentor()
    inst.instrument(tracer_provider=tp)
    ctl = Path(control)
    with FakeOpenAI(fail_every=10) as srv:
        client = srv.client()
        (ctl / "ready").write_text(srv.base_url)
        while not (ctl / "stop").exists():
            if (ctl / "burst").exists():
                srv.fail_every = 2
            for _ in range(2):
                for call in (lambda: client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "where is my order?"}]),
                             lambda: client.embeddings.create(model="text-embedding-3-small", input="where is my order?")):
                    try:
                        call()
                    except openai.APIStatusError:
                        pass
            tp.force_flush()
            (ctl / "calls").write_text(f"{srv.calls} {srv.failed}")
            time.sleep(1)
    inst.uninstrument()
    tp.shutdown()


if __name__ == "__main__":
    main(*sys.argv[1:5])
