"""What tests, the soak and the benchmarks use to prove a sync exact, as
`singer_sdk.testing` is for the SDK: run a tap and replay its messages
(:mod:`.singer_run`), compare a warehouse or a replica with the sandbox's ground
truth (:mod:`.verify`)."""
