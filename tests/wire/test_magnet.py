"""Magnet URIs (BEP 9, BEP 52): vector table whole / truncated / with trailing parameters, TRK-18
cleaning of ``tr``, infohashes cross-checked with libtorrent's parser, and a hypothesis property."""

from __future__ import annotations

import base64
import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from swarmscope.errors import DecodeError
from swarmscope.wire.magnet import Magnet, parse_magnet
from swarmscope.wire.types import Endpoint

V1 = "c0fda1edafdbdbb96443424e0b3899af7159d10e"
V2 = "ab" * 32
B32 = base64.b32encode(bytes.fromhex(V1)).decode()

# (uri, v1 hex, v2 hex, name, trackers, peers, xl)
VALID = [
    (f"magnet:?xt=urn:btih:{V1}", V1, None, None, (), (), None),
    (f"magnet:?xt=urn:btih:{V1.upper()}", V1, None, None, (), (), None),
    (f"magnet:?xt=urn:btih:{B32}", V1, None, None, (), (), None),
    (f"magnet:?xt=urn:btih:{B32.lower()}&dn=Big+Buck%20Bunny", V1, None, "Big Buck Bunny", (), (), None),
    (f"magnet:?xt=urn:btmh:1220{V2}", None, V2, None, (), (), None),
    (
        f"magnet:?xt=urn:btih:{V1}&xt=urn:btmh:1220{V2}&tr=udp%3A%2F%2Ft.example%3A6969%2Fannounce"
        "&tr=http://t2/ann&x.pe=127.0.0.1:6881&x.pe=[::1]:5&xl=12345",
        V1,
        V2,
        None,
        ("udp://t.example:6969/announce", "http://t2/ann"),
        (Endpoint("127.0.0.1", 6881), Endpoint("::1", 5)),
        12345,
    ),
    (f"MAGNET:?xt.1=urn:btih:{V1}&tr.1=udp://a:1&xt=urn:sha1:XYZ", V1, None, None, ("udp://a:1",), (), None),
    (
        f"magnet:?x.pe=[::ffff:127.0.0.2]:80&xt=urn:btih:{V1}&x.pe=peer.example:1",
        V1,
        None,
        None,
        (),
        (Endpoint("127.0.0.2", 80),),
        None,
    ),
]

INVALID = [
    ("http://example.com/a.torrent", "magnet: not a magnet URI"),
    ("", "magnet: not a magnet URI"),
    ("magnet:?dn=only+a+name", "xt: no urn:btih"),
    ("magnet:?xt=urn:btih:1234", "xt: urn:btih"),
    (f"magnet:?xt=urn:btih:{V1[:-1]}g", "xt: urn:btih"),
    ("magnet:?xt=urn:btih:" + "1" * 32, "xt: urn:btih"),  # '1' is not base32
    (f"magnet:?xt=urn:btmh:1114{V2}", "xt: urn:btmh"),
    (f"magnet:?xt=urn:btmh:1220{V2[:-2]}", "xt: urn:btmh"),
    (f"magnet:?xt=urn:btih:{V1}&xl=-5", "xl:"),
    (f"magnet:?xt=urn:btih:{V1}&xl=½", "xl:"),
    (f"magnet:?xt=urn:btih:{V1}&xl=" + "9" * 5000, "xl:"),  # past CPython's 4,300-digit int() limit
    (f"magnet:?xt=urn:btih:{V1}&xl=" + "1" * 21, "xl:"),  # more than a 64-bit length
    (f"magnet:?xt=urn:btih:{V1}&x.pe=127.0.0.1", "x.pe:"),
    (f"magnet:?xt=urn:btih:{V1}&x.pe=127.0.0.1:70000", "x.pe:"),
]


def check(magnet: Magnet, v1: str | None, v2: str | None) -> None:
    assert (magnet.v1.hex if magnet.v1 else None) == v1
    assert (magnet.v2.hex if magnet.v2 else None) == v2
    assert magnet.wire_infohash == bytes.fromhex(v1 or v2 or "")[:20]


@pytest.mark.parametrize(("uri", "v1", "v2", "name", "trackers", "peers", "xl"), VALID)
def test_valid_whole(
    uri: str,
    v1: str | None,
    v2: str | None,
    name: str | None,
    trackers: tuple[str, ...],
    peers: tuple[Endpoint, ...],
    xl: int | None,
) -> None:
    magnet = parse_magnet(uri)
    check(magnet, v1, v2)
    assert (magnet.display_name, magnet.trackers, magnet.peers, magnet.exact_length) == (
        name,
        trackers,
        peers,
        xl,
    )
    assert magnet.describe()["trackers"] == list(trackers)


@pytest.mark.parametrize("uri", [v[0] for v in VALID])
def test_valid_with_trailing_parameters(uri: str) -> None:
    """Unknown trailing parameters and stray separators are ignored."""
    assert parse_magnet(uri + "&&ws=http://seed/&so=0-3&foo") == parse_magnet(uri)


@pytest.mark.parametrize("uri", [v[0] for v in VALID])
def test_every_truncation_parses_or_raises_decode_error(uri: str) -> None:
    for cut in range(len(uri)):
        with contextlib.suppress(DecodeError):
            parse_magnet(uri[:cut])


@pytest.mark.parametrize(("uri", "reason"), INVALID)
def test_invalid_names_the_parameter(uri: str, reason: str) -> None:
    with pytest.raises(DecodeError) as info:
        parse_magnet(uri)
    assert reason in str(info.value)


@pytest.mark.parametrize(
    "tracker",
    [
        "ws%3A%2F%2Ft%2Fa",
        "wss://t/a",
        "dht://x",
        "*udp://disabled:1",
        "%3Chtml%3E%3Chead%3E",
        "http://a%20b/",
    ],
)
def test_trk18_unusable_tr_is_skipped(tracker: str) -> None:
    magnet = parse_magnet(f"magnet:?xt=urn:btih:{V1}&tr={tracker}&tr=udp://ok:1")
    assert magnet.trackers == ("udp://ok:1",)


def test_trk18_whitespace_around_tr_is_trimmed() -> None:
    assert parse_magnet(f"magnet:?xt=urn:btih:{V1}&tr=%20udp://ok:1%0A").trackers == ("udp://ok:1",)


def test_infohashes_agree_with_libtorrent() -> None:
    lt = pytest.importorskip("libtorrent")
    for uri, *_ in VALID:
        if "x.pe=peer.example" in uri or "MAGNET" in uri:
            continue
        ours = parse_magnet(uri)
        theirs = lt.parse_magnet_uri(uri).info_hashes
        if ours.v1 is not None:
            assert str(theirs.v1) == ours.v1.hex
        if ours.v2 is not None:
            assert str(theirs.v2) == ours.v2.hex


def test_swarm_id_prefers_v1() -> None:
    magnet = parse_magnet(f"magnet:?xt=urn:btmh:1220{V2}&xt=urn:btih:{V1}")
    assert magnet.swarm_id == magnet.v1
    assert parse_magnet(f"magnet:?xt=urn:btmh:1220{V2}").wire_infohash == bytes.fromhex(V2)[:20]


@given(st.text(max_size=200))
@settings(max_examples=500)
def test_arbitrary_text_parses_or_raises_decode_error(text: str) -> None:
    for uri in (text, "magnet:?" + text, f"magnet:?xt=urn:btih:{V1}&" + text):
        with contextlib.suppress(DecodeError):
            parse_magnet(uri)


OTHER_V1 = "11" * 20
OTHER_V2 = "cd" * 32
REPEATED_XT = [
    f"magnet:?xt=urn:btih:{V1}&xt=urn:btih:{OTHER_V1}",
    f"magnet:?xt=urn:btih:{OTHER_V1}&xt=urn:btih:{B32}",
    f"magnet:?xt.1=urn:btih:{V1}&dn=x&xt.2=urn:btih:{OTHER_V1}",
    f"magnet:?xt=urn:btmh:1220{V2}&xt=urn:btmh:1220{OTHER_V2}",
    f"magnet:?xt=urn:btmh:1220{OTHER_V2}&xt=urn:btih:{V1}&xt=urn:btmh:1220{V2}",
    f"magnet:?xt=urn:btih:{V1}&xt=urn:btih:{V1}",
]


@pytest.mark.parametrize("uri", REPEATED_XT)
def test_repeated_xt_of_one_kind_the_last_wins_like_libtorrent(uri: str) -> None:
    """libtorrent's parse_magnet_uri overwrites the infohash of each kind at every ``xt``."""
    lt = pytest.importorskip("libtorrent")
    theirs = lt.parse_magnet_uri(uri).info_hashes
    ours = parse_magnet(uri)
    assert (ours.v1.hex if ours.v1 else None) == (str(theirs.v1) if theirs.has_v1() else None)
    assert (ours.v2.hex if ours.v2 else None) == (str(theirs.v2) if theirs.has_v2() else None)


@pytest.mark.parametrize(
    ("uri", "reason"),
    [
        (f"magnet:?xt=urn:btih:{V1}&xt=urn:btih:{V1[:-2]}", "xt: urn:btih"),
        (f"magnet:?xt=urn:btmh:1220{V2}&xt=urn:btmh:1114{V2}", "xt: urn:btmh"),
    ],
)
def test_a_bad_later_xt_is_refused_like_libtorrent(uri: str, reason: str) -> None:
    lt = pytest.importorskip("libtorrent")
    with pytest.raises(RuntimeError, match="invalid info-hash"):
        lt.parse_magnet_uri(uri)
    with pytest.raises(DecodeError, match=reason):
        parse_magnet(uri)
