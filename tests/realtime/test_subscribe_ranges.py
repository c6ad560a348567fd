"""A subscribe with a rate out of range, against a real server: an error for that client, frames for every other.

The protocol side (``skeletor.protocol``) refuses the rate; this checks the server passes the
refusal on as an ``error`` message and the stream goes on, for clients connected before and after.
"""

from __future__ import annotations

import asyncio

from test_server import Feeder, collect, next_of_type, open_client, run, server_config  # shared test helpers (tests/realtime has no package)

from realtime.server import PoseServer
from skeletor.protocol import ErrorCode

BAD_RATES = ["1e-300", "1e-310", "5e-324", "1e999", "-1", "0", '"10"', "true", "1" + "0" * 400]


def test_out_of_range_rates_get_an_error_and_the_stream_goes_on() -> None:
    """Defect: ``max_rate_hz`` 1e-300 was accepted, its frame interval overflowed on every frame,
    the fan-out stopped, and clients that connected afterwards got no frames at all."""

    async def main() -> None:
        async with PoseServer(server_config(max_errors=len(BAD_RATES) + 1)) as server, Feeder(server, 50):
            before = await open_client(server, {"format": "binary", "fields": ["joints"]})
            bad = await open_client(server)
            for rate in BAD_RATES:
                await bad.send('{"type": "subscribe", "max_rate_hz": ' + rate + "}")
                err = await next_of_type(bad, "error")
                assert err["code"] == ErrorCode.INVALID_MESSAGE and "max_rate_hz" in err["message"], (rate, err)
            after = await open_client(server, {"format": "binary", "fields": ["joints"]})
            got_before, got_after, got_bad = await asyncio.gather(collect(before, 0.6), collect(after, 0.6), collect(bad, 0.6))
            for got in (got_before, got_after, got_bad):  # the bad client keeps its default subscription
                seqs = [s for s, _ in got]
                assert len(seqs) >= 5 and seqs == sorted(seqs), seqs
            for ws in (before, bad, after):
                await ws.close()

    run(main())
