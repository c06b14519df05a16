"""The compact per-frame table reads exactly as the rows it replaces: same observations, same
DataFrame, same JSON text (written row by row)."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest

from affectlens.core.facetable import FaceTable
from affectlens.core.labels import LABELS
from affectlens.core.types import FaceObservation, MediaInfo, MediaKind
from affectlens.result import Result

AUS = ("AU12", "AU01", "AU04")


def _table(n: int = 5, with_expression: bool = True) -> FaceTable:
    rng = np.random.default_rng(0)
    expr = rng.dirichlet(np.ones(len(LABELS)), n)
    if not with_expression:
        expr[:] = np.nan
    else:
        expr[1] = np.nan  # one frame whose classifier gave nothing
    return FaceTable.build(frame_index=np.arange(n) * 3, time=np.arange(n) * 0.1, face_id=np.arange(n) % 2,
                           box=rng.uniform(0, 300, (n, 4)), detection_score=rng.uniform(0, 1, n),
                           aus=rng.uniform(0, 5, (n, len(AUS))), au_names=AUS, expression=expr,
                           head_pose=rng.uniform(-30, 30, (n, 3)), mouth_open=rng.uniform(0, 1, n))


def _result(observations) -> Result:
    media = MediaInfo(path="x.mp4", kind=MediaKind.VIDEO, duration=1.0, has_video=True, has_audio=False)
    return Result(media=media, utterances=[], observations=observations, timings={"total": 1.0})


def test_rows_are_observations_rounded_like_the_outputs():
    table = _table()
    assert len(table) == 5 and len(list(table)) == 5
    o = table[2]
    assert isinstance(o, FaceObservation) and o.frame_index == 6 and o.face_id == 0
    assert set(o.aus) == set(AUS) and all(round(v, 3) == v for v in o.aus.values())
    assert set(o.expression) == set(LABELS) and table[1].expression == {}
    assert all(round(v, 1) == v for v in o.box)
    assert table[-1].frame_index == 12 and [r.frame_index for r in table[1:3]] == [3, 6]
    with pytest.raises(IndexError):
        table[5]


@pytest.mark.parametrize("with_expression", [True, False])
def test_frame_and_json_match_the_row_path(with_expression):
    table = _table(with_expression=with_expression)
    rows = list(table)  # the same observations as a plain list take the row-by-row path
    pd.testing.assert_frame_equal(_result(table).frames(), _result(rows).frames(), check_dtype=False)
    for indent in (2, None):
        expected = json.dumps(_result(rows).to_dict(), indent=indent, ensure_ascii=False)
        assert _result(table).to_json(indent=indent) == expected
        buffer = io.StringIO()
        _result(rows).write_json(buffer, indent=indent)
        assert buffer.getvalue() == expected
    assert json.loads(_result(table).to_json())["frames"][0]["aus"] == table[0].aus


def test_empty_table_keeps_the_columns():
    empty = FaceTable.empty(AUS)
    assert len(empty) == 0 and list(empty) == []
    assert list(_result(empty).frames().columns) == list(_result([]).frames().columns)
    assert json.loads(_result(empty).to_json())["frames"] == []


def test_table_is_compact():
    n = 36_000  # an hour at 10 frames/s
    table = FaceTable.build(frame_index=np.arange(n), time=np.arange(n) / 10, face_id=np.zeros(n),
                            box=np.zeros((n, 4)), detection_score=np.ones(n), aus=np.zeros((n, 17)),
                            au_names=[f"AU{i:02d}" for i in range(17)], expression=np.full((n, 7), 1 / 7),
                            head_pose=np.zeros((n, 3)), mouth_open=np.zeros(n))
    assert table.nbytes / n < 400  # bytes per row, against ~2 KB as FaceObservation objects
