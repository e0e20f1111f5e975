"""Kiosk smiley terminals over MQTT: the ``kiosk-mqtt`` connector and the bridge process it runs in.

``connector`` (message format, config, the pure mapping), ``bridge`` (the MQTT client process),
``liveness`` (device registry and gauges), ``opening_hours`` (when a location is open).
"""
