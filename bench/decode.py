"""Decoding one envelope of the bench workload: fastavro against the codec's decoder (cavro).

    python -m bench.decode [--events 20000] [--envelope 500]

Best of 7 passes over every envelope, µs per event; both must give the same events.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import orjson

from bench import workload
from schemas.codec import AvroCodec
from schemas.event import validate_event


def best_us_per_event(decode: Callable[[bytes], Any], payloads: list[bytes], events: int) -> float:
    """Fastest of 7 passes decoding every payload, in µs per event."""
    best = float("inf")
    for _ in range(7):
        started = time.perf_counter()
        for payload in payloads:
            decode(payload)
        best = min(best, time.perf_counter() - started)
    return best / events * 1e6


def main() -> None:
    """Print both decoders' µs per event and their ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--envelope", type=int, default=500)
    args = parser.parse_args()
    events = [validate_event(orjson.loads(line))
              for line in workload.build(args.events, 24, 1).payload.splitlines()]
    codec = AvroCodec()
    payloads = [codec.encode_batch(events[i:i + args.envelope])
                for i in range(0, len(events), args.envelope)]
    with_fastavro = AvroCodec(decoder="fastavro").decode_all
    if [e for p in payloads for e in codec.decode_all(p)] != [e for p in payloads for e in with_fastavro(p)]:
        raise SystemExit("the decoders disagree")
    slow = best_us_per_event(with_fastavro, payloads, len(events))
    fast = best_us_per_event(codec.decode_all, payloads, len(events))
    size = sum(map(len, payloads)) / len(events)
    print(f"{len(events):,} events in envelopes of {args.envelope} ({size:.0f} B an event)")
    print(f"fastavro        {slow:5.2f} µs/event")
    print(f"codec (cavro)   {fast:5.2f} µs/event   {slow / fast:.1f}x")


if __name__ == "__main__":
    main()
