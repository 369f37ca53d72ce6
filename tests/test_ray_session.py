"""The embedded Ray starts again when its node misses Ray's fixed 30 s registration wait (a busy machine);
any other start error, or a third timeout, is raised. Each case runs in its own interpreter, beside the
test session's Ray."""

import subprocess
import sys
import textwrap

FLAKY = """
import ray
from bfpo_ray import ray_session
real_init, calls = ray.init, []
def flaky_init(**kwargs):
    calls.append(kwargs)
    if len(calls) <= FAILS:
        raise Exception("The current node timed out during startup. This could happen because ...")
    return real_init(**kwargs)
ray.init = flaky_init
try:
    ray_session.start_local_ray(num_cpus=1)
    print("started", len(calls), ray.cluster_resources()["CPU"])
except Exception as err:
    print("raised", len(calls), err)
finally:
    ray.shutdown()
"""


def run(fails: int) -> str:
    code = textwrap.dedent(FLAKY).replace("FAILS", str(fails))
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300).stdout.strip()


def test_a_start_timeout_is_retried_then_the_real_ray_starts():
    assert run(fails=1).splitlines()[-1] == "started 2 1.0"


def test_repeated_timeouts_are_raised_after_three_tries():
    assert run(fails=5).splitlines()[-1].startswith("raised 3 The current node timed out")
