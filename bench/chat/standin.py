"""The stand-in LLM in a process of its own: `tests/peers/openai_standin.py` (the loopback
OpenAI-compatible peer the agent's tests use), answering every request with `--tokens`
words streamed `--delay-ms` apart. Its own process keeps its CPU out of the measured ones.

`python -m bench.chat.standin --port P [--tokens N] [--delay-ms D]`
"""

from __future__ import annotations

import argparse
import signal
import threading

from tests.peers.openai_standin import OpenAIStandIn, Reply


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--tokens", type=int, default=30)
    parser.add_argument("--delay-ms", type=float, default=30.0)
    args = parser.parse_args()
    text = " ".join(f"w{i}" for i in range(args.tokens))
    standin = OpenAIStandIn(default=Reply(text=text, delay_s=args.delay_ms / 1000), port=args.port)
    standin.start()
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    stopped.wait()
    standin.stop()


if __name__ == "__main__":
    main()
