"""tests/mutation.py's client (the test command mutmut runs): mutmut 2 reads only exit status 1 as "the tests
failed", so every failing stage must come back as 1, whatever pytest's own code was (issue 19)."""
import importlib.util
import socket
import threading
from pathlib import Path

import pytest

spec = importlib.util.spec_from_file_location("mutation_driver", Path(__file__).with_name("mutation.py"))
driver = importlib.util.module_from_spec(spec)
spec.loader.exec_module(driver)


def _fake_server(path, answers, requests):
    srv = socket.socket(socket.AF_UNIX)
    srv.bind(str(path))
    srv.listen(4)

    def answer():
        for code in answers:
            conn, _ = srv.accept()
            with conn:
                requests.append(conn.makefile("rb").readline().decode().rstrip("\n").split("\0"))
                conn.sendall(f"{code}\n".encode() if code is not None else b"")
        srv.close()

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize("answers, expected, asked", [
    ([0, 0], 0, 2),     # both stages of metrics pass: the mutant survived
    ([1], 1, 1),        # a test failed: killed, the slow stage is not run
    ([2], 1, 1),        # pytest 2, a collection error (the mutant broke the import): killed, not survived
    ([0, 5], 1, 2),     # the second stage failed another way
    ([None], 1, 1),     # the server hung up (the child was killed): killed
])
def test_client_reports_any_failing_stage_as_1(tmp_path, answers, expected, asked):
    requests = []
    sock = tmp_path / "s.sock"
    thread = _fake_server(sock, answers, requests)
    assert driver.client(str(sock), "metrics") == expected
    thread.join(5)
    assert len(requests) == asked
    assert requests[0][1:] == [*driver.PYTEST, *driver.STAGES["metrics"][0]]


def test_each_mutant_gets_the_checkout_s_data_and_cache_anew(tmp_path, monkeypatch):
    """What one mutant wrote (XXchelsea.pngXX beside the sample photos, in the cache) is gone for the next one, and
    the user's cache is only read: its files are copied, its folders (downloads) left out."""
    root, work, user = tmp_path / "root", tmp_path / "work", tmp_path / "user-cache"
    (root / "data" / "sample" / "val").mkdir(parents=True)
    (root / "data" / "sample" / "val" / "chelsea.png").write_bytes(b"png")
    (user / "datasets").mkdir(parents=True)
    (user / "weights.pt").write_bytes(b"w")
    monkeypatch.setenv("SRGAN_CACHE", str(user))
    work.mkdir()
    driver.make_templates(str(root), str(work))
    driver.fresh_files(str(work))
    (work / "data" / "sample" / "val" / "XXchelsea.pngXX").write_bytes(b"junk")
    (work / "cache" / "weights.pt").write_bytes(b"spoilt")
    driver.fresh_files(str(work))
    assert sorted(p.name for p in (work / "data" / "sample" / "val").iterdir()) == ["chelsea.png"]
    assert [p.name for p in (work / "cache").iterdir()] == ["weights.pt"]
    assert (work / "cache" / "weights.pt").read_bytes() == (user / "weights.pt").read_bytes() == b"w"


def test_the_results_table_judges_the_required_modules_and_is_written_between_its_markers(tmp_path):
    rows = [{"module": "degrade", "killed": 9, "total": 10, "rate": 0.9, "survivors": [4], "seconds": 120,
             "date": "2026-11-30", "rechecked": True},
            {"module": "metrics", "killed": 8, "total": 10, "rate": 0.8, "survivors": [1, 2], "seconds": 60},
            {"module": "inference", "killed": 1, "total": 4, "rate": 0.25, "survivors": [1, 2, 3], "seconds": 6}]
    table = driver.results_table(rows)
    assert "| `degrade` | yes | 9 / 10 | 90.0% (goal met) | 4 | 2026-11-30, 2 min, survivors rechecked |" in table
    assert "| `metrics` | yes | 8 / 10 | 80.0% (**below the goal**) | 1, 2 | ?, 1 min |" in table
    assert "| `inference` | measured | 1 / 4 | 25.0% | 1, 2, 3 | ?, 0 min |" in table
    assert table.endswith("The 2 required modules together: 17 / 20 = 85.0% killed (goal 90% each).")
    md = tmp_path / "M.md"
    md.write_text(f"a\n{driver.TABLE_START}\nold\n{driver.TABLE_END}\nb\n")
    driver.write_table(rows, str(md))
    assert md.read_text() == f"a\n{driver.TABLE_START}\n{table}\n{driver.TABLE_END}\nb\n"


def test_a_long_survivor_list_is_counted_not_listed():
    assert driver._ids(list(range(41))) == "41 mutants (ids in runs/mutation/summary.json)"
    assert driver._ids([3, 5]) == "3, 5" and driver._ids([]) == "-"
