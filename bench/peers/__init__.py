"""The consumers `make bench` sets side by side, each run as its own process on the same topic.

``raw`` (the ceiling R: confluent-kafka batch consume), ``bytewax_flow`` and ``quix_app`` (the peers,
in the bench-only virtualenv ``.venv-peers``) all do the work of ``common``: decode our Avro records
(single events and envelopes) with ``schemas.codec``, drop every event_id seen before, count events
per (channel, touchpoint, minute of event time). They import nothing of ours but ``schemas.codec``
and ``common``, so they run in either virtualenv with the repository on ``PYTHONPATH``.
"""
