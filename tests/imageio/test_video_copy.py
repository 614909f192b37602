"""Tags carried from the source video: kept, less what re-encoding or the muxer makes stale."""

from __future__ import annotations

from types import SimpleNamespace

from gensr.imageio.video_copy import copy_container_metadata, copy_stream_tags


def test_stream_tags_drop_stale_statistics() -> None:
    src = SimpleNamespace(
        metadata={"language": "eng", "title": "Director's cut", "DURATION": "00:01:00", "BPS": "128000",
                  "_STATISTICS_TAGS": "BPS DURATION", "NUMBER_OF_FRAMES": "1440"}
    )  # fmt: skip
    dst = SimpleNamespace(metadata={})
    copy_stream_tags(src, dst)
    assert dst.metadata == {"language": "eng", "title": "Director's cut"}


def test_container_tags_leave_the_muxer_its_own() -> None:
    src = SimpleNamespace(metadata={"title": "Holiday", "creation_time": "2024-05-01", "major_brand": "isom",
                                    "encoder": "Lavf58"})  # fmt: skip
    out = SimpleNamespace(metadata={"encoder": "Lavf61"})
    copy_container_metadata(src, out)
    assert out.metadata == {"encoder": "Lavf61", "title": "Holiday", "creation_time": "2024-05-01"}
