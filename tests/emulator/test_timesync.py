"""timesync: a follower process reads real time + the writer's offset, to the millisecond.

Run in a fresh interpreter (time-machine patches the whole process), as moto's
processes run it: the writer moves the offset, the follower syncs and reads.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import json, sys, time
from pathlib import Path
from emulator.timesync import ClockFile, Follower

writer = ClockFile(Path(sys.argv[1]))
follower = Follower(sys.argv[1])
follower.sync()  # offset 0: nothing to do, time-machine not even imported
untouched = "time_machine" not in sys.modules
writer.set_offset(600.0)
follower.sync()
time.sleep(0.2)  # the follower's clock keeps flowing at the real rate
import time_machine
first = time.time() - time_machine.escape_hatch.time.time()
writer.set_offset(4200.0)
follower.sync()
second = time.time() - time_machine.escape_hatch.time.time()
print(json.dumps({"untouched": untouched, "first": first, "second": second,
                  "pytest": "pytest" in sys.modules}))
"""


def test_a_follower_is_real_time_plus_the_offset(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path / "offset")],
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    out = json.loads(proc.stdout)
    assert out["untouched"] is True
    assert abs(out["first"] - 600) < 0.005  # no lag from when time-machine started
    assert abs(out["second"] - 4200) < 0.005
    assert out["pytest"] is False
