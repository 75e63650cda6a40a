"""What a connection tells us about the peer itself: peer id, reserved bits, client, BEP 10 fields.

Shared by every record built from a peer-wire connection (piece probes and BEP 9 metadata fetches), so the
same bytes always give the same identity fields.
"""

from __future__ import annotations

from typing import Any

from swarmscope.evidence.records import ExtensionInfo
from swarmscope.wire import client_id, extension
from swarmscope.wire.peer import Handshake


def extension_info(ext: extension.ExtensionHandshake | None) -> ExtensionInfo | None:
    """The evidence form of a decoded BEP 10 handshake (None when the peer sent none)."""
    if ext is None:
        return None
    return ExtensionInfo(
        m=dict(ext.m), v=ext.v, p=ext.p, yourip=ext.yourip, reqq=ext.reqq, metadata_size=ext.metadata_size
    )


def identity_fields(remote: Handshake | None, ext: extension.ExtensionHandshake | None) -> dict[str, Any]:
    """Observation keyword arguments ``peer_id``, ``reserved``, ``client``, ``client_version``, ``extension``.

    The client comes from the peer id (BEP 20) and the BEP 10 ``v`` field.
    """
    info = client_id.identify(remote.peer_id if remote else None, ext.v if ext else None)
    return {
        "peer_id": remote.peer_id if remote else None,
        "reserved": remote.reserved if remote else None,
        "client": info.name,
        "client_version": info.version,
        "extension": extension_info(ext),
    }
