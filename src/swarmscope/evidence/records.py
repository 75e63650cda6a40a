"""Evidence records: what we saw of a peer, and how far we got with it.

Timestamps are integers: microseconds since the Unix epoch, UTC (``*_us`` fields). The clock that
produces them lives in ``net/``; this module never reads a clock.

Motivation for the fields: a peer that a tracker merely *lists* is no evidence (the 2008 University of
Washington study had printers "accused" on tracker listings alone), and a single instant with no data
transferred was rejected by German courts; so every record carries the tier reached, the interval and the
bytes actually received and hash-checked from that peer.

Each top-level record has a keyword-only ``version``: None for a record this code makes (written in the
newest canonical format version of its type), or the older format version it was sealed under when it
was read back from canonical bytes or a row (:mod:`swarmscope.evidence.record_spec`).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import UTC, datetime


class Tier(enum.IntEnum):
    """How far a probe of one peer address got. Ordered: a higher tier implies every lower one.

    - ``LISTED``: named by a discovery source (tracker, DHT, PEX) only; nobody connected.
    - ``CONNECTED``: our own TCP connection completed a BEP 3 handshake echoing *our* infohash.
    - ``HAS_PIECES``: its bitfield / have / have_all showed at least one piece.
    - ``VERIFIED``: at least one piece received from this peer whose hash matched the metainfo, or one
      16 KiB block whose SHA-256 matched the block hash table built from content already verified
      against the metainfo (:class:`BlockProof`; README "Blocks proving distribution").
    """

    LISTED = 0
    CONNECTED = 1
    HAS_PIECES = 2
    VERIFIED = 3

    @property
    def label(self) -> str:
        """Lower-case name used in reports and the database (``"has_pieces"``)."""
        return self.name.lower()

    @classmethod
    def from_label(cls, label: str) -> Tier:
        """Inverse of :attr:`label`. Raises ``KeyError`` on an unknown label."""
        return cls[label.upper()]


class Source(enum.StrEnum):
    """Where a peer address came from."""

    TRACKER = "tracker"  # BEP 3 / BEP 15 announce reply
    DHT = "dht"  # BEP 5 get_peers values
    PEX = "pex"  # BEP 11 ut_pex added
    INBOUND = "inbound"  # the peer connected to us
    MANUAL = "manual"  # given by the user


class Failure(enum.StrEnum):
    """Why a probe stopped short of ``VERIFIED``. Stored as the value string."""

    CONNECT_REFUSED = "connect_refused"
    CONNECT_TIMEOUT = "connect_timeout"
    CONNECT_ERROR = "connect_error"
    HANDSHAKE_TIMEOUT = "handshake_timeout"
    HANDSHAKE_INVALID = "handshake_invalid"  # not a BitTorrent handshake
    INFOHASH_MISMATCH = "infohash_mismatch"  # answered with another infohash (kept in remote_infohash)
    CLOSED_BY_PEER = "closed_by_peer"
    PROTOCOL_ERROR = "protocol_error"  # peer sent bytes we could not decode (detail says which)
    NO_PIECES = "no_pieces"  # connected, peer claims nothing
    CHOKED = "choked"  # peer never unchoked us (and no allowed-fast piece)
    REJECTED = "rejected"  # peer rejected our requests (BEP 6)
    PIECE_TIMEOUT = "piece_timeout"  # unchoked but the piece did not arrive in time
    HASH_MISMATCH = "hash_mismatch"  # data received did not match the piece hash
    DEADLINE = "deadline"  # the monitor's run ended during the probe
    NO_METADATA = "no_metadata"  # BEP 9: the peer offers no ut_metadata (or no BEP 10 at all)
    METADATA_MISMATCH = "metadata_mismatch"  # BEP 9: the info dict it served does not hash to the infohash


@dataclass(frozen=True, slots=True)
class Sighting:
    """A discovery source named a peer address for a swarm (evidence of nothing by itself).

    Args:
        infohash: hex swarm id (v1 hex, or v2 hex for v2-only torrents).
        ip: normalised IP literal. port: 1..65535.
        source: a :class:`Source` value. detail: e.g. the tracker URL.
        seen_at_us: UTC microseconds when the list arrived.
        peer_id: the peer id the source gave, if any (non-compact tracker replies), raw bytes.
    """

    infohash: str
    ip: str
    port: int
    source: str
    detail: str
    seen_at_us: int
    peer_id: bytes | None = None
    version: int | None = field(default=None, kw_only=True)


@dataclass(frozen=True, slots=True)
class ExtensionInfo:
    """Fields of the peer's BEP 10 extension handshake, raw where the spec says "string".

    ``v`` keeps the raw bytes (interop PW-10); ``client_repaired`` is a printable rendering.
    ``yourip`` is the address the peer says it sees us as (normalised IP literal), or None.
    """

    m: dict[str, int] = field(default_factory=dict)
    v: bytes | None = None
    p: int | None = None
    yourip: str | None = None
    reqq: int | None = None
    metadata_size: int | None = None


@dataclass(frozen=True, slots=True)
class BlockProof:
    """One block of a piece whose SHA-256 is known from content already verified against the metainfo.

    The block hash table is built from a reference copy of the work or from pieces verified earlier in
    full; a block received from a peer that hashes to ``sha256`` proves the peer distributes that part of
    the work (README "Blocks proving distribution"). A third party re-checks it by hashing the stored
    block and re-assembling the verified piece it came from (whose hash is in the metainfo).

    Args:
        piece: piece index. begin: byte offset in the piece (a multiple of 16 KiB, BEP 3 "request").
        length: block length in bytes (16 KiB, less for the last block of the last piece).
        sha256: SHA-256 of the block bytes (32 bytes).
    """

    piece: int
    begin: int
    length: int
    sha256: bytes


@dataclass(frozen=True, slots=True)
class ClockSample:
    """One measurement of the local clock against a time server (SNTP, RFC 4330 / RFC 5905).

    Motivation: evidence timestamps must be honest; a commercial monitoring anchor discards everything
    since the last good synchronisation once the offset exceeds 40 ms (README "Honest clock").

    Args:
        server: the server asked, ``host:port``. measured_at_us: local UTC microseconds (the evidence
            clock, uncorrected) when the reply was processed.
        offset_us: server time minus local time, microseconds (None when no usable reply).
        delay_us: round-trip delay, microseconds (None when no usable reply).
        stratum: the server's stratum (1..15; None when no reply). leap: leap indicator (0..3) or None.
        error: why the sample has no usable reply (timeout, kiss-o'-death, unsynchronised server), else None.
    """

    server: str
    measured_at_us: int
    offset_us: int | None = None
    delay_us: int | None = None
    stratum: int | None = None
    leap: int | None = None
    error: str | None = None
    version: int | None = field(default=None, kw_only=True)


@dataclass(frozen=True, slots=True)
class RunStarted:
    """A monitor run began: the configuration behind every record that follows it in the ledger.

    Sealed in the ledger so the methodology statement of an export bundle is tamper-evident.

    Args:
        run_id: the store's run id. started_us: UTC microseconds. software_version: package version.
        software_commit: git commit of the running code, or None when unknown.
        settings_json: the run's settings as JSON text (keys sorted, no whitespace).
    """

    run_id: int
    started_us: int
    software_version: str
    software_commit: str | None
    settings_json: str
    version: int | None = field(default=None, kw_only=True)


@dataclass(frozen=True, slots=True)
class Attribution:
    """Who an IP address belonged to at observation time, per the IP datasets then in use.

    Geolocation is advisory (a geolocation default once sent police to a farm); the ASN and the
    organisation that announces it are what a disclosure request relies on.

    Args:
        ip: normalised IP literal. observed_at_us: the observation time it applies to (UTC µs).
        asn: autonomous system number, or None. as_org: the AS organisation. isp: the ISP name (GeoIP2-ISP)
        or None. country: ISO 3166-1 alpha-2. region, city: advisory. accuracy_radius_km: the dataset's
        stated radius. flags: a subset of ``("hosting", "vpn", "tor")``, sorted. datasets: SHA-256 hex
        fingerprints of every dataset consulted, sorted.
    """

    ip: str
    observed_at_us: int
    asn: int | None = None
    as_org: str | None = None
    isp: str | None = None
    country: str | None = None
    region: str | None = None
    city: str | None = None
    accuracy_radius_km: int | None = None
    flags: tuple[str, ...] = ()
    datasets: tuple[str, ...] = ()
    version: int | None = field(default=None, kw_only=True)


@dataclass(frozen=True, slots=True)
class RedactedEntry:
    """One ledger entry a retention purge redacted (nested in :class:`Redaction`).

    Args:
        node: hex fingerprint (SHA-256 of the raw Ed25519 key) of the node whose chain holds the entry.
        index: its chain index. kind: the record type its canonical bytes held (decoded from those bytes
        before they were removed, never taken from the ``ledger_entry.kind`` column).
        record_hash: the entry's record hash (SHA-256 of the removed canonical bytes, 32 bytes).
    """

    node: str
    index: int
    kind: str
    record_hash: bytes


@dataclass(frozen=True, slots=True)
class Redaction:
    """A retention purge, sealed in the ledger by the node that ran it (README "Retention").

    A redacted entry (canonical bytes removed, hashes kept) counts as purged only while a sealed
    Redaction names it; without one, someone with write access to the database could hide any sealed
    record by removing its bytes.

    Args:
        rule: the retention rule with its parameters (``ledger_entry.redacted_rule``).
        purged_at_us: UTC µs of the purge (``ledger_entry.redacted_us``).
        entries: every entry the purge redacted, in (node, index) order.
    """

    rule: str
    purged_at_us: int
    entries: tuple[RedactedEntry, ...] = ()
    version: int | None = field(default=None, kw_only=True)


WITNESS_RESET_STEP = "witness_reset"  # a lost chain-head witness re-created (store/ledger/witness_reset)


@dataclass(frozen=True, slots=True)
class WorkflowEvent:
    """A decision of the legal workflow, sealed in the ledger by the node that took it (README "Sealed
    workflow decisions").

    The workflow's tables (letters, payments, disputes, the ISP and work directory) are plain rows: someone
    who can write the database file could re-price an approved letter, erase a payment or reroute a notice.
    What accuses someone therefore rests on these sealed events, not on the rows: a row counts only when
    its content hashes to a proven event's ``sha256``.

    Args:
        subject: what the decision is about: a case's DOE number (``DOE-000001``), ``isp:<id>`` or
            ``work:<id>`` (the directory row's id), ``account:user|token|session:<id>`` (a console
            account row's id).
        step: ``letter_approved``, ``letter_sent``, ``payment``, ``dispute``, ``escalated``, ``isp_entry``,
            ``work_entry``, ``account_user``, ``account_token`` or ``account_session`` (among others: the
            modules that seal them list theirs).
        at_us: UTC µs of the decision.
        sha256: SHA-256 (32 bytes) of the decision's content (:mod:`swarmscope.store.legal.workflow_seals`
            says which content for each step).
    """

    subject: str
    step: str
    at_us: int
    sha256: bytes
    version: int | None = field(default=None, kw_only=True)


@dataclass(frozen=True, slots=True)
class Observation:
    """The outcome of one probe of one peer address for one swarm (one row, never updated).

    Args:
        infohash: hex swarm id. ip: the peer's address. port: for an outbound probe the TCP port we
            dialled (observed: the connection reached it); for an inbound one the peer's BEP 10 listen port
            ``p`` when it sent one (a CLAIM nothing checked, kept so a re-probe can dial it), else its TCP
            source port (see :func:`observed_port`).
        source: how we came to probe it (:class:`Source` value).
        started_us, ended_us: UTC microseconds of connect start and of disconnect.
        tier: highest :class:`Tier` reached in this probe.
        failure: a :class:`Failure` value when ``tier`` < VERIFIED, else None; ``failure_detail`` text.
        remote_infohash: hex infohash the peer answered with when it differs from ours.
        peer_id: raw 20-byte peer id from the handshake. reserved: the 8 reserved bytes.
        client, client_version: identified from the peer id and the ``v`` field (BEP 20, BEP 10).
        extension: the BEP 10 handshake fields, or None when none arrived.
        num_pieces: pieces in the torrent. pieces_have: how many the peer claims (final snapshot).
        bitfield: the final claimed-pieces snapshot (BEP 3 bit order), or None if the peer sent none.
        completion: pieces_have / num_pieces, 0.0..1.0; None if unknown (no handshake).
        bytes_received: piece payload bytes received from the peer (bytes).
        wire_bytes_in, wire_bytes_out: every byte on the connection, both directions (bytes).
        payload_bytes_sent: piece payload we sent; always 0 by construction (we never upload).
        verified_pieces: indices whose hash matched. failed_pieces: indices whose hash did not.
        encrypted: whether MSE/PE was in use. quirks: names of protocol deviations seen (interop ids).
        verified_blocks: blocks received that matched the block hash table (:class:`BlockProof`).
        failed_blocks: blocks asked for as proof whose bytes did not match (the expected proof is kept).
        capture_sha256: SHA-256 of this probe's wire capture (:mod:`swarmscope.evidence.capture.recording`),
            or None when no capture was taken (README "Wire captures").
        source_port: for an inbound probe, the TCP source port its connection came from as our socket saw
            it (0..65535): with ``ip`` and ``started_us`` what an ISP behind carrier-grade NAT needs to name
            a subscriber (RFC 6302 section 2, RFC 6888 REQ-12). None for an outbound probe (``port`` is
            then the observed one) and in records sealed under format version 1, which did not keep it.
    """

    infohash: str
    ip: str
    port: int
    source: str
    started_us: int
    ended_us: int
    tier: Tier
    failure: str | None = None
    failure_detail: str | None = None
    remote_infohash: str | None = None
    peer_id: bytes | None = None
    reserved: bytes | None = None
    client: str | None = None
    client_version: str | None = None
    extension: ExtensionInfo | None = None
    num_pieces: int = 0
    pieces_have: int = 0
    bitfield: bytes | None = None
    completion: float | None = None
    bytes_received: int = 0
    wire_bytes_in: int = 0
    wire_bytes_out: int = 0
    payload_bytes_sent: int = 0
    verified_pieces: tuple[int, ...] = ()
    failed_pieces: tuple[int, ...] = ()
    encrypted: bool = False
    quirks: tuple[str, ...] = ()
    verified_blocks: tuple[BlockProof, ...] = ()
    failed_blocks: tuple[BlockProof, ...] = ()
    capture_sha256: bytes | None = None
    source_port: int | None = None
    version: int | None = field(default=None, kw_only=True)


def observed_port(obs: Observation) -> int | None:
    """The port of ``obs`` seen on the wire: the port we dialled (outbound) or the connection's TCP source
    port (inbound); None for an inbound record sealed before ``source_port`` existed (format version 1),
    whose ``port`` may be the peer's unchecked BEP 10 ``p`` claim."""
    if obs.source_port is not None:
        return obs.source_port
    return None if obs.source == Source.INBOUND.value else obs.port


def claimed_port(obs: Observation) -> int | None:
    """The BEP 10 listen port an inbound peer claimed and ``port`` names, when it differs from the port
    observed on the wire (None: ``port`` is the observed one, or the record cannot tell)."""
    if obs.source_port is None or obs.port == obs.source_port:
        return None
    return obs.port


HEAVY_OVERHEAD = (
    1 << 20
)  # bytes: more than an honest peer sends besides pieces (a 1M-piece bitfield: 128 KiB)


def heavy_overhead(obs: Observation) -> bool:
    """Whether a probe took more than :data:`HEAVY_OVERHEAD` bytes besides piece payload
    (``wire_bytes_in - bytes_received``; junk just under the probe's overhead cap), whether or not it
    verified a block: a peer's choice no honest client makes (an honest probe's overhead is its handshakes,
    one bitfield, a few ``have``/PEX messages: kilobytes), backed off like a protocol error so that what one
    peer makes us store stays bounded (README "Resource bounds"). A verified block does not make it light:
    else one genuine block per connection would carry the junk of every probe into the ledger."""
    return obs.wire_bytes_in - obs.bytes_received > HEAVY_OVERHEAD


def us_to_datetime(us: int) -> datetime:
    """UTC microseconds since the epoch → aware ``datetime`` (UTC)."""
    return datetime.fromtimestamp(us / 1_000_000, tz=UTC).replace(microsecond=us % 1_000_000)


def us_to_iso(us: int) -> str:
    """UTC microseconds → ISO 8601 with microseconds and ``Z`` (e.g. ``2026-11-29T14:00:00.000001Z``)."""
    return us_to_datetime(us).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
