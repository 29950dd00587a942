"""The SSE parser (WHATWG rules, any chunking) and frames to typed items."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nestor_catalog_client._sse import SSEFrame, SSEParser, event_from_data, frame_item
from nestor_catalog_core import Event, EventType, StreamReset
from nestor_catalog_core.models import Resource
from tests.client.helpers import definition

STREAM = (
    b"retry: 3000\n\n"
    b'id: 1\nevent: resource.created\ndata: {"a":1}\n\n'
    b": heartbeat 1767225600\n\n"
    b"id: 2\r\nevent: sync.completed\r\ndata: line one\r\ndata:line two\r\n\r\n"
    b'id: 3\revent: reset\rdata: {"sequence": 3}\r\r'
)

EXPECTED = [
    SSEFrame(retry=3000),
    SSEFrame(event="resource.created", data='{"a":1}', id="1"),
    SSEFrame(comments=("heartbeat 1767225600",)),
    SSEFrame(event="sync.completed", data="line one\nline two", id="2"),
    SSEFrame(event="reset", data='{"sequence": 3}', id="3"),
]


def parse_in_chunks(data: bytes, cuts: list[int]) -> list[SSEFrame]:
    parser = SSEParser()
    frames: list[SSEFrame] = []
    start = 0
    for cut in [*sorted(cuts), len(data)]:
        frames += parser.feed(data[start:cut])
        start = cut
    return frames


def test_whole_stream_parses_into_frames() -> None:
    assert SSEParser().feed(STREAM) == EXPECTED


def test_every_byte_boundary_gives_the_same_frames() -> None:
    for cut in range(len(STREAM) + 1):
        assert parse_in_chunks(STREAM, [cut]) == EXPECTED, cut


def test_byte_at_a_time_gives_the_same_frames() -> None:
    assert parse_in_chunks(STREAM, list(range(len(STREAM)))) == EXPECTED


@given(st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=12))
def test_any_chunking_gives_the_same_frames(cuts: list[int]) -> None:
    assert parse_in_chunks(STREAM, cuts) == EXPECTED


def test_crlf_split_between_chunks_is_one_line_end() -> None:
    parser = SSEParser()
    assert parser.feed(b"data: x\r") == []
    assert parser.feed(b"\n\r") == [SSEFrame(data="x")]
    assert parser.feed(b"\ndata: y\n\n") == [SSEFrame(data="y")]


def test_multibyte_characters_split_between_chunks() -> None:
    data = 'data: {"d":"é€😀"}\n\n'.encode()
    assert parse_in_chunks(data, [9, 10, 12, 15]) == [SSEFrame(data='{"d":"é€😀"}')]


def test_leading_bom_is_dropped_once() -> None:
    assert SSEParser().feed(b"\xef\xbb\xbfdata: a\n\n") == [SSEFrame(data="a")]
    assert SSEParser().feed(b"\xef\xbb\xbf") == []


def test_field_rules() -> None:
    frames = SSEParser().feed(
        b"data\n\n"  # a field without a colon has an empty value
        b"data:  two spaces\n\n"  # only one space is removed
        b"id: a\x00b\ndata: x\n\n"  # an id holding NUL is ignored
        b"retry: 12a\ndata: y\n\n"  # retry takes digits only
        b"unknown: z\ndata: z\n\n"  # unknown fields are ignored
        b"\n\n"  # blank lines alone dispatch nothing
    )
    assert frames == [
        SSEFrame(data=""),
        SSEFrame(data=" two spaces"),
        SSEFrame(data="x"),
        SSEFrame(data="y"),
        SSEFrame(data="z"),
    ]


def test_heartbeat_comment_is_recognized() -> None:
    (frame,) = SSEParser().feed(b": heartbeat 17\n\n")
    assert frame.is_heartbeat
    (other,) = SSEParser().feed(b": hello\n\n")
    assert not other.is_heartbeat


def resource_body(name: str = "aws-rds-mysql", version: str = "1.2.0") -> dict[str, object]:
    body = definition(name, version).to_dict()
    body["status"] = {
        "digest": "sha256:" + "0" * 64,
        "published_at": "2026-01-02T03:04:05Z",
        "updated_at": "2026-02-03T04:05:06Z",
        "source": {"kind": "api", "user": "tester"},
        "deprecated": False,
        "withdrawn": False,
        "sequence": 7,
    }
    return body


def test_resource_event_takes_its_attributes_from_the_body() -> None:
    body = resource_body()
    frame = SSEFrame(event="resource.updated", data=json.dumps(body), id="7")
    event = frame_item(frame, requested=None)
    assert isinstance(event, Event)
    assert (event.type, event.sequence, event.name, event.version) == (
        EventType.RESOURCE_UPDATED,
        7,
        "aws-rds-mysql",
        "1.2.0",
    )
    assert (event.provider, event.category, event.resource_type) == ("aws", "database", "mysql")
    assert event.time.isoformat() == "2026-02-03T04:05:06+00:00"
    assert Resource.from_dict(event.data).version == "1.2.0"


def test_other_events_take_name_and_version_from_their_data() -> None:
    data = {"resource_name": "aws-rds-mysql", "version": "9.0.0", "findings": [], "code": "VALIDATION_FAILED"}
    event = event_from_data(EventType.VALIDATION_FAILED, 12, data)
    assert (event.name, event.version, event.provider) == ("aws-rds-mysql", "9.0.0", None)
    sync = event_from_data(EventType.SYNC_COMPLETED, 13, {"repository": "platform"})
    assert sync.name is None
    assert sync.data == {"repository": "platform"}


def test_reset_frame_becomes_a_stream_reset() -> None:
    data = {"sequence": 57, "reason": "gone", "requested": 3, "first_available": 40}
    item = frame_item(SSEFrame(event="reset", data=json.dumps(data), id="57"), requested=3)
    assert item == StreamReset(sequence=57, requested=3, first_available=40)


def test_frames_without_data_or_of_unknown_types_are_skipped() -> None:
    assert frame_item(SSEFrame(retry=10), requested=None) is None
    assert frame_item(SSEFrame(event="resource.renamed", data="{}", id="4"), requested=None) is None


@pytest.mark.parametrize(
    ("frame", "match"),
    [
        (SSEFrame(event="resource.created", data="{not json", id="5"), "Expecting property name"),
        (SSEFrame(event="resource.created", data="[1]", id="5"), "not a JSON object"),
        (SSEFrame(event="resource.created", data="{}", id=None), "without an id"),
        (SSEFrame(event="resource.created", data="{}", id="x5"), "invalid literal"),
    ],
)
def test_malformed_frames_raise_value_error(frame: SSEFrame, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        frame_item(frame, requested=None)
