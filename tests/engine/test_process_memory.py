"""The command's process turns off numpy's huge-page advice (cli/memory.py), unless the user chose."""

import os
import subprocess
import sys

PROBE = (
    "import numpy as np\n"
    "from uspec_audit.cli.memory import prefer_small_pages\n"
    "off = prefer_small_pages()\n"
    "core = getattr(np, '_core', None) or np.core  # numpy 2 / numpy 1\n"
    "previous = core.multiarray._set_madvise_hugepage(True)  # returns the state before this call\n"
    "import os; print(off, previous, os.environ.get('NUMPY_MADVISE_HUGEPAGE'))\n"
)


def _probe(env_value: str | None) -> str:
    env = {k: v for k, v in os.environ.items() if k != "NUMPY_MADVISE_HUGEPAGE"}
    if env_value is not None:
        env["NUMPY_MADVISE_HUGEPAGE"] = env_value
    return subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, env=env
    ).stdout.strip()


def test_advice_is_off_in_our_process_and_its_children():
    assert _probe(None) == "True False 0"


def test_the_users_setting_wins():
    assert _probe("1") == "False True 1"
    assert _probe("0") == "True False 0"


def test_the_command_turns_it_off():
    code = (
        "import sys, numpy as np; import uspec_audit.cli.app as app; sys.argv = ['uspec-audit', '--version']\n"
        "try:\n    app.main()\nexcept SystemExit:\n    pass\n"
        "core = getattr(np, '_core', None) or np.core\n"
        "print(core.multiarray._set_madvise_hugepage(True))"
    )
    env = {k: v for k, v in os.environ.items() if k != "NUMPY_MADVISE_HUGEPAGE"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.strip().splitlines()[-1] == "False"
