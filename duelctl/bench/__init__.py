"""`duelctl bench`: load a stack over real WebSockets and measure it.

- `engine`: users connect, pairs play duels in a loop, every expected frame is tracked
  (lost, duplicated, late), latencies are recorded;
- `burst`, `burst_stats`: `--burst N`, N pairs inviting at one instant, round after round,
  and what each round counts (phase latencies, accepts after `expiresAt`);
- `stats`: percentiles, client CPU and event-loop lag, and the stack's CPU and memory
  read from /proc when it runs on this machine;
- `users`: tokens for 2N users (created in a local pool, or signed in on a stage);
- `stack`: an embedded stack in a child process, so the client's CPU stays its own;
- `report`: live progress and the final table (rich), and the `--json` object.
"""
