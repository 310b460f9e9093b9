"""The labels file: what a person writes by hand, validated with line-numbered errors."""
from __future__ import annotations

import numpy as np
import pytest

from rcmcl_ros.bag.labels_file import LabelsError, read_labels, recording_name


def write(tmp_path, text: str):
    path = tmp_path / "labels.csv"
    path.write_text(text)
    return path


def test_a_hand_written_file_reads_with_comments_blank_lines_any_column_order_and_a_bom(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text("\ufeff# my robot's recordings\nlabel,recording,end_s,start_s,split\n\n"
                    "wave,alice_01,4.0,0.5,train\n\"hand over, slowly\",bob_02,6.5,1,test\n")
    labels = read_labels(path)
    assert labels.recordings == ["alice_01", "bob_02"]
    assert labels.classes == ["hand over, slowly", "wave"]
    assert labels.split_of("bob_02") == "test" and labels.of("alice_01")[0].line == 4
    assert not labels.has_body_ids


@pytest.mark.parametrize("row, message", [
    ("rec,1,x,wave", "labels.csv:2: end_s must be a number of seconds, got 'x'"),
    ("rec,3,2,wave", "labels.csv:2: end_s 2 must be > start_s 3"),
    ("rec,2,2,wave", "labels.csv:2: end_s 2 must be > start_s 2"),
    ("rec,-1,2,wave", "labels.csv:2: start_s -1 is negative"),
    ("rec,nan,2,wave", "start_s must be a number of seconds, got 'nan'"),
    ("rec,0,2,", "labels.csv:2: empty label"),
    (",0,2,wave", "labels.csv:2: empty recording"),
    ("rec,0,2", "labels.csv:2: 3 fields, the header has 4"),
])
def test_each_bad_row_is_named_by_its_line(tmp_path, row, message):
    with pytest.raises(LabelsError, match="problem") as error:
        read_labels(write(tmp_path, f"recording,start_s,end_s,label\n{row}\n"))
    assert message in str(error.value)


def test_every_problem_is_listed_at_once(tmp_path):
    with pytest.raises(LabelsError) as error:
        read_labels(write(tmp_path, "recording,start_s,end_s,label,body_id,split\n"
                                    "a,0,1,wave,,val\nb,0,1,wave,-2,\nc,1,0,,,\n"))
    text = str(error.value)
    assert text.startswith("4 problems in the labels:")
    assert ":2: split must be train or test" in text and ":3: body_id must be a whole number" in text
    assert ":4: end_s 0 must be > start_s 1" in text and ":4: empty label" in text


def test_a_header_that_misses_or_misnames_a_column_is_refused(tmp_path):
    with pytest.raises(LabelsError, match=r"labels.csv:1: the header .* \(missing end_s\) \(unknown stop\)"):
        read_labels(write(tmp_path, "recording,start_s,stop,label\nrec,0,1,wave\n"))
    with pytest.raises(LabelsError, match="no header row"):
        read_labels(write(tmp_path, "# nothing here\n"))
    with pytest.raises(LabelsError, match="no segments after the header"):
        read_labels(write(tmp_path, "recording,start_s,end_s,label\n"))
    with pytest.raises(LabelsError, match="labels file not found"):
        read_labels(tmp_path / "missing.csv")


def test_overlapping_segments_of_one_person_are_refused_other_bodies_and_touching_spans_are_not(tmp_path):
    good = "recording,start_s,end_s,label,body_id\nr,0,2,wave,\nr,2,4,kick,\nr,1,3,fall,1\nr,1,3,sit,2\n"
    assert len(read_labels(write(tmp_path, good)).segments) == 4
    with pytest.raises(LabelsError, match=r"labels.csv:3: 1.5-3 s overlaps line 2 \(0-2 s\) for the followed person"):
        read_labels(write(tmp_path, "recording,start_s,end_s,label,body_id\nr,0,2,wave,\nr,1.5,3,kick,\n"))
    with pytest.raises(LabelsError, match="for body 1 of 'r'"):
        read_labels(write(tmp_path, "recording,start_s,end_s,label,body_id\nr,0,2,wave,1\nr,1,3,kick,1\n"))


def test_a_recording_with_two_splits_is_refused(tmp_path):
    with pytest.raises(LabelsError, match="labels.csv:3: recording 'r' is test here but train on line 2"):
        read_labels(write(tmp_path, "recording,start_s,end_s,label,split\nr,0,1,wave,train\nr,1,2,kick,test\n"))


def test_against_the_bags_unknown_recordings_and_times_outside_are_errors(tmp_path):
    labels = read_labels(write(tmp_path, "recording,start_s,end_s,label\na,0,9.4,wave\nb,0,1,kick\n"))
    labels.check_recordings({"a": (100.0, 109.0), "b": (0.0, 5.0)})           # 0.4 s past the end: rounding
    with pytest.raises(LabelsError, match=r"labels.csv:3: recording 'b' is not among the bags given \(a\)"):
        labels.check_recordings({"a": (100.0, 109.0)})
    with pytest.raises(LabelsError, match=r"labels.csv:2: 0-9.4 s is outside the bag of 'a', which spans 0.000-8.000"):
        labels.check_recordings({"a": (100.0, 108.0), "b": (0.0, 5.0)})
    absolute = read_labels(write(tmp_path, "recording,start_s,end_s,label\na,101,102,wave\n"), absolute=True)
    absolute.check_recordings({"a": (100.0, 109.0)})
    with pytest.raises(LabelsError, match="outside the bag"):
        absolute.check_recordings({"a": (200.0, 209.0)})
    with pytest.raises(LabelsError, match="label 'wave' is not a class of the checkpoint"):
        absolute.check_known(["kick"], what="the checkpoint")


def test_truth_is_on_the_sensor_clock_and_gaps_are_unlabelled(tmp_path):
    labels = read_labels(write(tmp_path, "recording,start_s,end_s,label\nr,1,3,wave\nr,3,5,kick\n"))
    truth = labels.truth("r", bag_start_s=100.0)
    assert truth.label_at(100.5) is None and truth.label_at(101.0) == "wave" and truth.label_at(103.0) == "kick"
    assert truth.label_at(105.0) is None
    assert truth.purity(np.array([102.0, 102.5, 103.5, 104.0]))[1] == 0.5          # across the boundary
    assert truth.purity(np.array([101.5, 102.0, 102.5, 104.0])) == ("wave", 0.75)
    assert truth.majority(np.array([99.0, 100.0])) is None
    assert truth.segments(end_s=0.0) == [(101.0, 103.0, "wave"), (103.0, 105.0, "kick")]
    assert labels.truth("r", bag_start_s=100.0, body_id=3).label_at(102.0) is None


def test_a_recording_is_named_by_its_bag(tmp_path):
    assert recording_name(tmp_path / "alice_01") == "alice_01"
    assert recording_name("/data/alice_01.mcap") == "alice_01"
    assert recording_name("bob.db3") == "bob"
    assert recording_name("take.2.mcap") == "take.2"
