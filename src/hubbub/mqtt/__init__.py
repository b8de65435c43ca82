"""MQTT 3.1.1 and 5.0, sans-IO: no sockets, no asyncio, no clock (a test checks it).

- ``packets``: one frozen dataclass per control packet, ``Properties``, the ``Packet`` union.
- ``reason_codes``: ``ReasonCode`` and the mappings to 3.1.1 return codes.
- ``codec``: ``encode``, ``encode_publish``, ``publish_template``; ``decoder``: ``Decoder``.
- ``connection``: ``ServerConnection``, the server side of one connection (h11 style).
- ``topics``: topic validation and ``TopicTrie``, the only matcher in hubbub.
- ``errors``: the MQTT-specific ``PeerError`` subclasses.
"""
