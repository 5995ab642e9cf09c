"""`prestart_moto`: moto started before the template loads, adopted and stopped by the stack."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from urllib.parse import urlsplit

from duelctl.testing import sign_in
from emulator.runtime import Emulator, EmulatorOptions, prestart_moto
from emulator.template.load import load_template

ROOT = Path(__file__).resolve().parents[2]
FAST = {"InviteTimeoutSeconds": "2", "DuelSeconds": "4", "StartLeadSeconds": "1"}


def _accepts(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "", parts.port or 0), timeout=1):
            return True
    except OSError:
        return False


def test_options_needing_their_own_moto_get_none() -> None:
    # A virtual clock and fault mode start moto with an environment of their own.
    assert prestart_moto(EmulatorOptions(clock="virtual")) is None
    assert prestart_moto(EmulatorOptions(faults="ddb-throttle=0.1")) is None


async def test_the_stack_adopts_the_early_moto_and_stops_it(tmp_path: Path) -> None:
    options = EmulatorOptions(state_dir=tmp_path / "state", prewarm=False)
    moto = prestart_moto(options)
    assert moto is not None
    url = moto.url
    try:
        template = load_template(ROOT / "template.yaml", FAST)
        async with Emulator(template, options=options, moto=moto) as emu:
            assert emu.endpoints.aws_endpoint_url == url
            # Provisioned in the adopted moto: the pool exists, so a user can sign in
            # (in a thread: the sign-in calls the stack served on this loop).
            user = await asyncio.to_thread(sign_in, emu.endpoints, "early-moto")
            assert user.token
        # The stack stopped it with itself.
        assert not _accepts(url)
    finally:
        moto.stop()
