"""Our partitioner is Kafka's: an envelope of events goes to the partition each event's key picks."""

import random

import pytest

from schemas.kafka import murmur2, partition_for

JAVA_CASES = [  # Kafka's UtilsTest.testMurmur2: the Java client's signed 32-bit values
    (b"21", -973932308),
    (b"foobar", -790332482),
    (b"a-little-bit-long-string", -985981536),
    (b"a-little-bit-longer-string", -1486304829),
    (b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971),
    (b"abc", 479470107),
]


def _signed(value: int) -> int:
    return value - (1 << 32) if value >= 1 << 31 else value


def _reference_murmur2(data: bytes) -> int:
    """Utils.murmur2 as the Java client writes it, transcribed step by step."""
    m, r = 0x5BD1E995, 24
    h = (0x9747B28C ^ len(data)) & 0xFFFFFFFF
    whole = len(data) - len(data) % 4
    for i in range(0, whole, 4):
        k = int.from_bytes(data[i:i + 4], "little")
        k = (k * m) & 0xFFFFFFFF
        k ^= k >> r
        k = (k * m) & 0xFFFFFFFF
        h = ((h * m) & 0xFFFFFFFF) ^ k
    tail = data[whole:]
    if len(tail) == 3:
        h ^= tail[2] << 16
    if len(tail) >= 2:
        h ^= tail[1] << 8
    if tail:
        h ^= tail[0]
        h = (h * m) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * m) & 0xFFFFFFFF
    return h ^ (h >> 15)


@pytest.mark.parametrize(("key", "java"), JAVA_CASES)
def test_murmur2_is_the_java_clients(key: bytes, java: int) -> None:
    assert _signed(murmur2(key)) == java


def test_murmur2_matches_the_reference_for_every_length() -> None:
    rnd = random.Random(5)
    for length in range(0, 130):
        for _ in range(20):
            key = rnd.randbytes(length)
            assert murmur2(key) == _reference_murmur2(key)


def test_partition_for_is_the_positive_hash_modulo_the_partitions() -> None:
    rnd = random.Random(9)
    keys = [f"c_{rnd.getrandbits(256):064x}".encode() for _ in range(6000)]
    for partitions in (1, 6, 7):
        picked = [partition_for(key, partitions) for key in keys]
        assert picked == [(_reference_murmur2(k) & 0x7FFFFFFF) % partitions for k in keys]
        assert set(picked) == set(range(partitions))
